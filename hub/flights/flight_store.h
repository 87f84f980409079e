// The control tower's durable state: every flight's spec and state, and its
// timeline. Two backends: SqliteFlightStore (one hub, DATA/flights.db) and
// EtcdFlightStore (--store etcd: several hubs, writes fenced by the leader).
//
// What every backend promises:
// - Save writes a state and the log entries of the step that produced it
//   atomically (all or nothing), so a restarted hub, or a new leader,
//   resumes exactly where the last acknowledged step left.
// - An error from Save means the step is not acknowledged: the tower keeps
//   the old state and steps again later.
// - Bounded as hub/flights/flight_bounds.h says (entries cut, a flight's
//   oldest steps and the oldest finished flights deleted in the write that
//   goes past the bound), each bound counted in MetricsText.
// - Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/flights/flight_bounds.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

struct StoredFlight {
  std::string id;          // primary key (unique per start)
  std::string name;
  std::string app;
  std::string spec_json;
  std::string state_json;
  bool finished = false;
  int64_t created_unix_ms = 0;
};

// The newest entries of a flight's timeline, oldest first.
struct FlightLogTail {
  std::vector<v1::FlightLogEntry> entries;
  uint64_t older_left_out = 0;  // older entries that did not fit the budget
};

class FlightStore {
 public:
  virtual ~FlightStore() = default;
  // Inserts or replaces the flight (its spec is written on insert only) and
  // appends `log` (unix_ms, step, kind, message, data_json), atomically.
  virtual Status Save(const StoredFlight& flight, const std::vector<v1::FlightLogEntry>& log) = 0;
  // Every flight, oldest first.
  virtual Result<std::vector<StoredFlight>> LoadAll() = 0;
  // The flight's newest entries within `max_bytes` (LogTail), in order; the
  // entries are read newest first and stop there, so memory stays bounded.
  virtual Result<FlightLogTail> Log(const std::string& id, size_t max_bytes) = 0;
  // Prometheus text of the backend's counters ("" when it has none).
  virtual std::string MetricsText() const { return ""; }
};

}  // namespace skyport::hub
