// The control tower's durable state: every flight's spec and state, and its
// timeline, in SQLite (DATA/flights.db, WAL, synchronous FULL). A state and
// the log entries of the step that produced it are written in one
// transaction, so a restarted hub resumes exactly where the last step left.
// Thread-safe: one connection behind a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "skyport/v1/hub.pb.h"

struct sqlite3;

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

class FlightStore {
 public:
  static Result<std::unique_ptr<FlightStore>> Open(const std::string& path);
  ~FlightStore();

  // Inserts or replaces the flight and appends `log` (unix_ms, step, kind,
  // message, data_json), all in one transaction.
  Status Save(const StoredFlight& flight, const std::vector<v1::FlightLogEntry>& log);
  // Every flight, oldest first.
  Result<std::vector<StoredFlight>> LoadAll();
  // The flight's timeline in order.
  Result<std::vector<v1::FlightLogEntry>> Log(const std::string& id);

 private:
  explicit FlightStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

}  // namespace skyport::hub
