// The flight store of a single hub: SQLite (DATA/flights.db, WAL, synchronous
// FULL). A state and its log entries are written in one transaction. One
// connection behind a mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hub/flights/flight_store.h"

struct sqlite3;

namespace skyport::hub {

class SqliteFlightStore final : public FlightStore {
 public:
  static Result<std::unique_ptr<SqliteFlightStore>> Open(const std::string& path);
  ~SqliteFlightStore() override;

  Status Save(const StoredFlight& flight, const std::vector<v1::FlightLogEntry>& log) override;
  Result<std::vector<StoredFlight>> LoadAll() override;
  Result<std::vector<v1::FlightLogEntry>> Log(const std::string& id) override;

 private:
  explicit SqliteFlightStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

}  // namespace skyport::hub
