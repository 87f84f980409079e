// The flight store of a single hub: SQLite (DATA/flights.db, WAL, synchronous
// FULL). A state, its log entries and the deletions its bounds call for
// (hub/flights/flight_bounds.h) are one transaction. One connection behind a
// mutex.
//
// A log entry's seq is (step << kLogStepShift) + its index in the step, so
// that a flight's oldest steps are one range of the primary key. (Entries
// written before steps were numbered have seq 1, 2, ...: they count as step 0.)
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hub/flights/flight_bounds_report.h"
#include "hub/flights/flight_store.h"

struct sqlite3;

namespace skyport::hub {

inline constexpr int kLogStepShift = 20;  // a step holds far fewer entries (16 KiB of JSON)

class SqliteFlightStore final : public FlightStore {
 public:
  static Result<std::unique_ptr<SqliteFlightStore>> Open(const std::string& path, FlightBounds bounds = {});
  ~SqliteFlightStore() override;

  Status Save(const StoredFlight& flight, const std::vector<v1::FlightLogEntry>& log) override;
  Result<std::vector<StoredFlight>> LoadAll() override;
  Result<FlightLogTail> Log(const std::string& id, size_t max_bytes) override;
  // skyport_hub_flight_store_* counters (the bounds that bit).
  std::string MetricsText() const override;

 private:
  SqliteFlightStore(sqlite3* db, FlightBounds bounds)
      : db_(db), bounds_(bounds), bounds_report_("flights.db", bounds.log_steps) {}
  // The step's entries, and the flight's oldest steps beyond the bound deleted.
  Status AppendLogLocked(const std::string& id, const BoundedStepLog& step, uint64_t* steps_deleted);

  mutable std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
  const FlightBounds bounds_;
  FinishedFlights finished_;  // every finished flight in the file; guarded by mu_
  FlightBoundsReport bounds_report_;  // guarded by mu_
  uint64_t saves_ = 0;                // guarded by mu_
};

}  // namespace skyport::hub
