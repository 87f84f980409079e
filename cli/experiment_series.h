// The cumulative view of an experiment over time, for `skyport stats --by B
// --event E --json` ("experiment.cumulative") and the console's lift and
// p-value charts. One look per bucket: everything from the range's start up
// to that bucket's end (the hub asked once per look, cli/experiment_looks.h).
// Per treatment arm and look: the conversion lift against control with its
// 95% interval (two-proportion z-test, as for one bucket) and the sequential
// p-value of the flight gates' test (mSPRT on conversion, contract
// MsprtNormal, its mixing variance the gates' default: 1% of the pooled
// variance), as the running minimum over the looks so far, so it may be read
// after every look (always valid under peeking). Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/time_buckets.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

// Looks beyond this many (the newest are kept): each is one query to the hub.
inline constexpr size_t kMaxLooks = 30;

struct Look {
  int64_t bucket_unix_s = 0;  // the bucket the look ends with
  int64_t until_unix_s = 0;   // its end (exclusive): the data is [range start, until)
  v1::StatsReport report;     // the hub's rows over that range, by "" (one per arm)
};

// The looks' ends for buckets starting at `starts` (any order; duplicates
// ignored): each bucket's end (the next bucket's start), the last clipped at
// `to_unix_s` when that is set (> 0); only the newest kMaxLooks buckets.
// Returns (bucket start, end) pairs, oldest first.
std::vector<std::pair<int64_t, int64_t>> LookEnds(std::vector<int64_t> starts, router::Granularity g,
                                                  int64_t to_unix_s);

// [{"bucket_unix_s", "bucket" (RFC 3339), "until_unix_s", "arms": [{"arm",
// "control", "users", "converted", "conversion_rate", "delta_conversion":
// {"difference", "ci": [low, high], "p"} or null, "sequential_p": p or null}]}]
// Arms sorted by name; the control's deltas are null, as are those of an arm
// whose test cannot run yet (no users; mSPRT: fewer than 2 users per arm).
nlohmann::json CumulativeJson(const std::vector<Look>& looks, const std::string& control);

}  // namespace skyport::cli
