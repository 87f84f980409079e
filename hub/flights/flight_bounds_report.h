// What the flight bounds (hub/flights/flight_bounds.h) did in one store: the
// skyport_hub_flight_store_* counters every store shares and their log lines
// (the one of a flight's log at most every 10 s: a flight at its bound bites
// every step). Not thread-safe: the store's lock guards it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log_limiter.h"
#include "core/prom_text.h"
#include "hub/flights/flight_bounds.h"

namespace skyport::hub {

class FlightBoundsReport {
 public:
  // `where` names the store in the log lines ("etcd", "flights.db").
  FlightBoundsReport(std::string where, uint64_t steps_kept) : where_(std::move(where)), steps_kept_(steps_kept) {}
  // One save of flight `id`: entries of its step cut and left out
  // (BoundStepLog), the flight's oldest steps deleted, the finished flights
  // deleted.
  void Saved(const std::string& id, uint64_t entries_cut, uint64_t entries_left_out, uint64_t steps_deleted,
             const std::vector<std::string>& pruned, size_t finished_kept, int64_t now_mono_ms);
  void Write(PromText& out) const;

 private:
  const std::string where_;
  const uint64_t steps_kept_;
  LogLimiter quiet_;
  uint64_t entries_truncated_ = 0, entries_left_out_ = 0, steps_deleted_ = 0, flights_pruned_ = 0;
};

}  // namespace skyport::hub
