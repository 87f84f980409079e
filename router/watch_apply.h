// What the registry watch does with the messages its stream delivered, in
// order, pure. The watch's apply thread drains every message received so far
// and hands them here one by one, then asks ShouldPublish once: a burst of N
// deltas becomes one table, not N (coalescing), and the router is never more
// than the batch being applied behind the stream.
//
// A snapshot (the first message of a fresh stream, or after compaction)
// arrives in chunks; they fill a staging mirror that replaces the mirror at
// the last chunk, so a half-read snapshot is never published, and a stream
// that breaks mid-snapshot (OnStreamEnd) leaves the mirror as it was, at the
// revision the watch resumes from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "router/registry_mirror.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::router {

class WatchApply {
 public:
  explicit WatchApply(std::string role) : mirror_(role), role_(std::move(role)) {}

  // One message of the stream, in order; its contents are moved from.
  void OnMessage(v1::WatchResponse& msg);
  // The stream ended (or broke): a snapshot in progress is dropped.
  void OnStreamEnd();

  // The coalescing decision, taken once per drained batch: publish when no
  // snapshot is half-read and something changed since the last table (an
  // app touched — by the stream or by `extra_touched`, e.g. a host name that
  // resolved — or the revision moved, so the router reports the registry's).
  bool ShouldPublish(bool extra_touched) const;
  // The table for revision() was published.
  void Published() { published_revision_ = revision_; }

  RegistryMirror& mirror() { return mirror_; }
  const RegistryMirror& mirror() const { return mirror_; }
  int64_t revision() const { return revision_; }  // of the mirror: the last complete message
  int64_t published_revision() const { return published_revision_; }
  bool in_snapshot() const { return staging_.has_value(); }
  uint64_t events_applied() const { return events_applied_; }
  uint64_t snapshots_applied() const { return snapshots_applied_; }

 private:
  RegistryMirror mirror_;
  std::string role_;
  std::optional<RegistryMirror> staging_;
  int64_t revision_ = 0;
  int64_t published_revision_ = -1;
  uint64_t events_applied_ = 0;
  uint64_t snapshots_applied_ = 0;
};

}  // namespace skyport::router
