#include <catch2/catch.hpp>

#include <vector>

#include "core/latency_histogram.h"

using skyport::kLatencyBoundsUs;
using skyport::kLatencyBuckets;
using skyport::LatencyBucket;
using skyport::LatencyQuantileUs;

TEST_CASE("latency buckets: a bound falls into its own bucket; beyond the last, +Inf", "[core][latency]") {
  CHECK(kLatencyBuckets == 16);
  CHECK(LatencyBucket(0) == 0);
  CHECK(LatencyBucket(250) == 0);
  CHECK(LatencyBucket(251) == 1);
  CHECK(LatencyBucket(10'000'000) == 14);
  CHECK(LatencyBucket(10'000'001) == 15);
}

TEST_CASE("latency quantiles: linear inside the bucket of the rank, as histogram_quantile", "[core][latency]") {
  const std::vector<uint64_t> none;
  CHECK(LatencyQuantileUs(none, 0.99) == 0);
  CHECK(LatencyQuantileUs(std::vector<uint64_t>(16, 0), 0.5) == 0);
  // 100 in 0..250, 100 in 1000..2500.
  std::vector<uint64_t> h(16, 0);
  h[0] = 100;
  h[3] = 100;
  CHECK(LatencyQuantileUs(h, 0.5) == Approx(250));          // rank 100: the end of the first bucket
  CHECK(LatencyQuantileUs(h, 0.25) == Approx(125));         // rank 50 of the first 100
  CHECK(LatencyQuantileUs(h, 0.99) == Approx(1000 + 1500 * 0.98));
  CHECK(LatencyQuantileUs(h, 1.0) == Approx(2500));
  CHECK(LatencyQuantileUs(h, 7) == LatencyQuantileUs(h, 1));  // clamped
  // The +Inf bucket answers with the largest finite bound.
  std::vector<uint64_t> slow(16, 0);
  slow[15] = 3;
  CHECK(LatencyQuantileUs(slow, 0.99) == Approx(static_cast<double>(kLatencyBoundsUs.back())));
  // Short histograms: missing buckets count as 0.
  CHECK(LatencyQuantileUs(std::vector<uint64_t>{0, 4}, 0.5) == Approx(375));
}
