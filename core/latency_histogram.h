// The latency histogram every Skyport component agrees on: the router counts
// requests into these buckets (per second for /stats, per minute for the
// hub), the hub stores the counts, and both estimate quantiles the same way.
// Header-only and pure.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace skyport {

// Upper bounds in microseconds (a latency equal to a bound falls in its
// bucket); one more bucket, +Inf, follows the last bound. Frozen: changing
// them would make counts already stored at the hub meaningless.
inline constexpr std::array<uint64_t, 15> kLatencyBoundsUs = {
    250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000,
    1'000'000, 2'500'000, 5'000'000, 10'000'000};
inline constexpr size_t kLatencyBuckets = kLatencyBoundsUs.size() + 1;

// The bucket of a latency.
inline size_t LatencyBucket(uint64_t latency_us) {
  return static_cast<size_t>(std::lower_bound(kLatencyBoundsUs.begin(), kLatencyBoundsUs.end(), latency_us) -
                             kLatencyBoundsUs.begin());
}

// Estimated quantile q (clamped to 0..1) of the counts, in microseconds, as
// Prometheus' histogram_quantile does it: the bucket holding rank q·total,
// linear inside it (from 0 in the first bucket); the +Inf bucket answers with
// the largest finite bound. 0 when there are no counts. `counts` holds up to
// kLatencyBuckets entries (missing ones count as 0; extra ones are ignored).
inline double LatencyQuantileUs(std::span<const uint64_t> counts, double q) {
  const size_t n = std::min(counts.size(), kLatencyBuckets);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += counts[i];
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total);
  uint64_t before = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t in = counts[i];
    if (in == 0 || static_cast<double>(before + in) < rank) {
      before += in;
      continue;
    }
    if (i == kLatencyBoundsUs.size()) return static_cast<double>(kLatencyBoundsUs.back());
    const double lo = i == 0 ? 0.0 : static_cast<double>(kLatencyBoundsUs[i - 1]);
    const double hi = static_cast<double>(kLatencyBoundsUs[i]);
    return lo + (hi - lo) * (rank - static_cast<double>(before)) / static_cast<double>(in);
  }
  return static_cast<double>(kLatencyBoundsUs.back());  // only with rounding at q = 1
}

}  // namespace skyport
