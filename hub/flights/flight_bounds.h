// How much of the flights' history Skyport keeps, whatever holds it (the
// SQLite store, the etcd store, the tower's memory, one Flights.Log reply):
// the bounds and the pure decisions made at them. No I/O; every store and
// the tower call these so that the bounds are decided in one place.
//
// - A log entry's message is cut at kMaxLogMessageBytes (" [cut]"), data
//   larger than kMaxLogDataBytes is dropped (noted in the message), step and
//   kind are cut at 64 bytes.
// - One step's entries hold at most kMaxLogBatchBytes (measured as the JSON
//   array etcd stores); the entries beyond are replaced by one note.
// - A flight keeps its last kMaxLogBatches steps that wrote entries.
// - At most kMaxFinishedFlights finished flights are kept, in the store and
//   in the tower's memory: the oldest by (created, id) are forgotten first.
//   A running flight is never forgotten.
// - A Flights.Log reply holds the newest entries within kMaxLogReplyBytes
//   and says how many older ones it left out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

inline constexpr size_t kMaxLogMessageBytes = 2048;
inline constexpr size_t kMaxLogDataBytes = 8192;
inline constexpr size_t kMaxLogBatchBytes = 16384;
inline constexpr uint64_t kMaxLogBatches = 10'000;
inline constexpr size_t kMaxFinishedFlights = 1000;
// Under gRPC's default receive limit of 4 MiB (the CLI's), with room for
// the reply's framing.
inline constexpr size_t kMaxLogReplyBytes = size_t{3} << 20;

// The bounds a store applies (tests shrink them).
struct FlightBounds {
  uint64_t log_steps = kMaxLogBatches;
  size_t finished_flights = kMaxFinishedFlights;
};

// The JSON text of one entry as the etcd store keeps it (what kMaxLogBatchBytes measures).
std::string FlightLogEntryJson(const v1::FlightLogEntry& e);

// One step's entries, bounded: every entry cut to its bounds, then the
// entries that fit in kMaxLogBatchBytes, then (if some did not) a note.
struct BoundedStepLog {
  std::vector<v1::FlightLogEntry> entries;
  uint64_t truncated = 0;  // entries cut or whose data was dropped
  uint64_t dropped = 0;    // entries left out (replaced by the note)
};
BoundedStepLog BoundStepLog(const std::vector<v1::FlightLogEntry>& entries);

// A flight holds steps [first, next) (next: after the one being added):
// the first step to keep under `max_steps` (steps before it are deleted).
uint64_t FirstStepKept(uint64_t first, uint64_t next, uint64_t max_steps);

// Finished flights by (created_unix_ms, id), oldest first.
using FinishedFlights = std::map<std::pair<int64_t, std::string>, bool>;
// The finished flights to forget, oldest first, when flight `id` finishes
// now (`newly_finished`; nothing otherwise): those beyond `max_finished`
// counting `id`, at most `max_at_once`; never `id` itself.
std::vector<std::string> FinishedToForget(const FinishedFlights& finished, const std::string& id, bool newly_finished,
                                          size_t max_finished, size_t max_at_once);

// The newest entries of a timeline within a byte budget, fed newest first.
class LogTail {
 public:
  explicit LogTail(size_t budget_bytes = kMaxLogReplyBytes) : budget_(budget_bytes) {}
  // Keeps `e` if it fits; once one does not, it and every later (older)
  // entry are counted as left out.
  void Add(v1::FlightLogEntry e);
  // `n` older entries left out without being looked at.
  void LeaveOut(uint64_t n) { left_out_ += n; }
  bool full() const { return full_; }
  uint64_t left_out() const { return left_out_; }
  // The entries kept, oldest first.
  std::vector<v1::FlightLogEntry> Take();

 private:
  size_t budget_;
  size_t bytes_ = 0;
  bool full_ = false;
  uint64_t left_out_ = 0;
  std::vector<v1::FlightLogEntry> newest_first_;
};

}  // namespace skyport::hub
