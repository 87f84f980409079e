// The experiment part of `skyport stats`: the hub's per-arm rows
// (StatsSink.Query) compared against a control arm. Which arm is control, the
// conversion and mean deltas with 95% intervals and p-values, the
// sample-ratio check, and the table and JSON that show them. Pure.
//
// What the numbers are (per bucket, per arm):
// - USERS: users exposed to the arm; EXPOSURES: their requests to it.
// - CONVERTED: users with the event; CONV% = CONVERTED / USERS. A user whose
//   exposure lies outside the range (or bucket) but whose event lies inside
//   still counts as converted, so CONV% can pass 100% in short buckets; the
//   z-test is then skipped ("-").
// - EVENTS, MEAN, STDDEV: of the event's values, one per event (n = EVENTS):
//   the hub keeps sums and sums of squares of the values, not per user.
// - ΔCONV: two-proportion z-test of CONV% against control (hub::TwoProportionZTest),
//   in percentage points; ΔMEAN: Welch's t-test of MEAN ("-" unless both arms
//   have at least 2 events). Both: treatment − control, 95% interval, two-sided p.
// - SRM: chi-square of USERS against the route config's weights (only outside
//   flights, and only when the registry knows the app's weights). An arm with
//   users but no weight (e.g. from an earlier split inside the range) counts
//   as a certain mismatch; weights changed during the range also show as one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "contract/stats_math.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

// Flagged below this p (a real imbalance, not chance, in practice).
inline constexpr double kSrmThreshold = 0.001;
inline constexpr double kConfidence = 0.95;

enum class ControlSource {
  kNone,    // no arm at all
  kFlag,    // --control
  kWeight,  // the highest weight in the route config
  kUsers,   // the most users exposed (no weights known)
};

struct ControlChoice {
  std::string arm;  // "" with kNone
  ControlSource source = ControlSource::kNone;
};

// The control arm among the arms of `report` and of `weights`:
// - `prefix` given: the arm equal to it, else the only one starting with it
//   (INVALID_ARGUMENT "control: ..." when none does or several do, listing them);
// - else the arm with the highest weight (ties: more users, then the smaller name);
// - else the arm with the most users exposed, summed over buckets (ties: the
//   smaller name).
Result<ControlChoice> ChooseControl(const v1::StatsReport& report, const std::map<std::string, uint32_t>& weights,
                                    const std::string& prefix);

struct ArmResult {
  v1::ArmBucket row;  // as the hub sent it
  bool control = false;
  // Against the control of the same bucket; none for the control itself, in a
  // bucket without the control, without an event, or when the test cannot run
  // (no users, more converted than users; for the mean fewer than 2 events).
  std::optional<hub::TwoProportionResult> conversion;
  std::optional<hub::WelchResult> mean;
};

struct SrmCheck {
  std::vector<std::string> arms;  // the bucket's arms in table order, then weighted arms without users
  std::vector<uint64_t> users;
  std::vector<double> weights;
  hub::SrmResult result;
};

struct BucketResult {
  int64_t bucket_unix_s = 0;    // 0 without --by
  std::vector<ArmResult> arms;  // the control first, then by name
  std::optional<SrmCheck> srm;  // none without weights, or with fewer than 2 arms to compare
};

struct ExperimentResult {
  v1::StatsQuery query;  // what was asked (the table's header)
  ControlChoice control;
  std::map<std::string, uint32_t> weights;  // empty: unknown
  std::vector<BucketResult> buckets;        // by bucket start
  // With an event: events of users with no exposure in this (app, flight),
  // counted for no arm (StatsReport.unattributed_*).
  uint64_t unattributed_users = 0;
  uint64_t unattributed_events = 0;
  // The percentile each user's total of the event was capped at
  // (StatsReport.user_cap_percentile; 100: not capped).
  double user_cap_percentile = 100;
  // With --by and --event: the cumulative looks (cli/experiment_series.h),
  // filled by AddCumulative; null otherwise (then not in the JSON).
  nlohmann::json cumulative;
};

// Groups `report` by bucket and runs the tests against `control`. `weights`:
// the route config's, or empty when unknown (then no SRM).
ExperimentResult AnalyzeExperiment(const v1::StatsQuery& query, const v1::StatsReport& report,
                                   const std::map<std::string, uint32_t>& weights, const ControlChoice& control);

// A header line ("shop: event purchase, outside flights, since ..., by day;
// control aaaaaaaaaaaa (highest weight)"), then per bucket a label line (with
// --by: "day 2024-05-01"), the table and the SRM line, buckets a blank line
// apart. Columns: ARM (commits cut to 12 characters, "(control)" marked),
// USERS, EXPOSURES, REQUESTS and 5XX% (when any arm has requests), P99-MS
// (when any has latencies: routers' per-minute traffic rows; "-" for an arm
// without), and with an event CONVERTED, CONV%, EVENTS, MEAN, STDDEV,
// ΔCONV (95% CI) in points, P, ΔMEAN (95% CI), P. SRM line:
//   sample ratio mismatch: p=0.812 (users 5012/4988 vs weights 50/50)
// or, when p < kSrmThreshold, the same line starting with "WARNING: " and
// ending with why it matters. With an event and unattributed events, a last
// line "unattributed: N events of M users with no exposure here (counted for
// no arm)". Ends with a newline.
std::string RenderExperimentTable(const ExperimentResult& r);

// The JSON form (`skyport stats --json` puts it under "experiment"):
//   {"app", "flight", "event" ("" = none), "by" ("" = whole range),
//    "from_unix_s" (0 = the beginning),
//    "control": ARM or null, "control_source": "flag"|"weight"|"users"|null,
//    "weights": {ARM: WEIGHT} ({} when unknown),
//    "buckets": [{"bucket_unix_s", "bucket": "2024-05-01T00:00:00Z" or null without --by,
//                 "arms": [{"arm", "control": bool, "users", "exposures", "requests", "errors_5xx",
//                           "status": {"1xx".."5xx"}, "latency_p50_us", "latency_p99_us" (null without latencies),
//                           with an event also: "converted", "conversion_rate" (0..1),
//                             "events", "sum", "sum_squares",
//                             "mean" (null without events), "stddev" (null below 2 events),
//                             "delta_conversion": null | {"difference", "ci": [low, high],
//                                 "p", "z", "relative_lift" (null when control's rate is 0)},
//                             "delta_mean": null | {"difference", "ci": [low, high], "p", "t", "df"}}],
//                 "srm": null | {"p", "chi_square", "df", "mismatch": bool,
//                                "arms": [...], "users": [...], "weights": [...]}}],
//    with an event also "unattributed": {"users", "events"}}
// Rates and differences are fractions (0.0123, not points); arms and buckets
// in table order; non-finite numbers (an infinite z) are null.
nlohmann::json ExperimentJson(const ExperimentResult& r);

}  // namespace skyport::cli
