// The records of the router's event journal (router/journal.h) and how a
// journal file is read back. Pure: bytes in, bytes out.
//
// A worker's journal file is a sequence of frames:
//   u32 payload length | u64 checksum of the payload | payload
// (little-endian). A payload is one of
//   post:  u8 1 | i64 now | u8 trusted | str app | str flight | str arm | str user | str body
//   drops: u8 2 | u32 n | n × u32 event index
//   exposure: u8 3 | i64 now | str app | str flight | str arm | str user
// with str = u32 length | bytes. A post is an events post as the router
// accepted it: its body is parsed again (ParseEvents with the same `now` and
// `trusted`) to recover the events; `user` is the cookie's user, used for
// events that name none. A drops record lists events of the post before it
// that the aggregator could not take (it was full): they were answered as
// dropped and are not recovered. An exposure record is a user the router
// served on an arm (EventAggregator::AddExposure) for the first time in that
// hour: replayed, it makes the same exposure row again.
//
// A frame cut short (the process died in the middle of a write) or failing
// its checksum ends the file: what follows is ignored.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "router/events.h"

namespace skyport::router {

struct JournaledPost {
  int64_t now_unix_s = 0;
  bool trusted = false;
  std::string_view app, flight, arm;
  std::string_view user;  // the cookie's user; "" when the post had none (every event names its user)
  std::string_view body;
};

// Frame bytes before the body: EncodePostHead(p) followed by p.body is one
// whole frame (the checksum covers both). `out` is overwritten.
void EncodePostHead(const JournaledPost& p, std::string& out);
// A whole drops frame.
void EncodeDrops(std::span<const uint32_t> indexes, std::string& out);

struct JournaledExposure {
  int64_t now_unix_s = 0;
  std::string_view app, flight, arm, user;
};
// A whole exposure frame.
void EncodeExposure(const JournaledExposure& e, std::string& out);

struct ReplayStats {
  uint64_t posts = 0;
  uint64_t events = 0;         // recovered into the aggregator
  uint64_t exposures = 0;      // exposure records recovered into the aggregator
  uint64_t dropped = 0;        // listed in drops records, or refused by the aggregator now
  uint64_t bad_posts = 0;      // a post whose body no longer parses (not expected)
  uint64_t valid_bytes = 0;    // up to the end of the last good frame
  bool torn = false;           // bytes after valid_bytes were ignored
};

// Adds every event and exposure of the journal file `bytes` to `agg`, as
// the live router did.
ReplayStats ReplayJournal(std::string_view bytes, EventAggregator& agg);

// Checksum of a frame's payload given in two pieces (exposed for tests).
uint64_t JournalChecksum(std::string_view a, std::string_view b);

}  // namespace skyport::router
