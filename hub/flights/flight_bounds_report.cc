#include "hub/flights/flight_bounds_report.h"

#include "core/log.h"

namespace skyport::hub {

void FlightBoundsReport::Saved(const std::string& id, uint64_t entries_cut, uint64_t entries_left_out,
                               uint64_t steps_deleted, const std::vector<std::string>& pruned, size_t finished_kept, int64_t now_mono_ms) {
  entries_truncated_ += entries_cut;
  entries_left_out_ += entries_left_out;
  steps_deleted_ += steps_deleted;
  flights_pruned_ += pruned.size();
  uint64_t suppressed = 0;
  if (entries_cut + entries_left_out + steps_deleted > 0 && quiet_.Allow(now_mono_ms, &suppressed))
    log::Warn("flight log bounded", {{"id", id}, {"store", where_}, {"entries_cut", entries_cut},
                                     {"entries_left_out", entries_left_out}, {"oldest_steps_deleted", steps_deleted},
                                     {"steps_kept", steps_kept_}, {"suppressed", suppressed}});
  for (const auto& gone : pruned)
    log::Info("finished flight deleted (bound)", {{"id", gone}, {"store", where_}, {"kept", finished_kept}});
}

void FlightBoundsReport::Write(PromText& out) const {
  out.Counter("skyport_hub_flight_store_entries_truncated_total", "Log entries cut to their bounds.",
              entries_truncated_);
  out.Counter("skyport_hub_flight_store_entries_left_out_total", "Log entries left out of a step's bounded batch.",
              entries_left_out_);
  out.Counter("skyport_hub_flight_store_log_batches_deleted_total",
              "Oldest steps' log entries deleted (a flight keeps its last 10000 steps).", steps_deleted_);
  out.Counter("skyport_hub_flight_store_flights_pruned_total",
              "Finished flights deleted (1000 finished flights are kept).", flights_pruned_);
}

}  // namespace skyport::hub
