// One arm's traffic counters and their JSON in a router's GET /stats: what
// routers count (router/stats.h keeps them per second) and what `skyport
// stats` merges across routers. The document's shape is the contract.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/latency_histogram.h"

namespace skyport::router {

// Latency histogram upper bounds in microseconds; one more bucket for +Inf
// (shared with the hub, which stores per-minute counts of the same buckets).
using skyport::kLatencyBoundsUs;
using skyport::kLatencyBuckets;

struct Counters {
  uint64_t requests = 0;
  uint64_t status_1xx = 0, status_2xx = 0, status_3xx = 0, status_4xx = 0, status_5xx = 0;
  uint64_t users_assigned = 0;  // first visits and re-deals (new split id)
  uint64_t latency_sum_us = 0;
  std::array<uint64_t, kLatencyBuckets> latency{};

  // Statuses outside 100..599 count as 5xx (the engine records what it sent).
  void Record(int status, uint64_t latency_us, bool new_user);
  void Merge(const Counters& other);
  bool empty() const { return requests == 0; }
  // Estimated quantile (0..1) from the histogram, in microseconds (linear
  // inside a bucket); 0 when empty.
  double QuantileUs(double q) const;
};

// One arm of /stats: {"requests", "status": {"1xx".."5xx"}, "users_assigned",
// "requests_last_minute", "latency_sum_us", "latency_us": {"mean","p50","p90","p99"},
// "latency_histogram": {"bounds_us": [...], "counts": [...]}}.
nlohmann::json ArmStatsJson(const Counters& c, uint64_t last_minute);

// Merging /stats documents from several routers (for `skyport stats`): sums
// every counter and histogram (counts summed by position: the routers share
// kLatencyBoundsUs), recomputes mean and quantiles; "routers" = docs.size(),
// "window_seconds" and "unix_s" the largest seen. Missing or mistyped fields
// count as zero.
nlohmann::json MergeStatsJson(const std::vector<nlohmann::json>& docs);

}  // namespace skyport::router
