// Gates of a flight plan: is the treatment arm good enough to go on? A gate
// compares one metric of the treatment with the control and answers pass,
// fail or wait (for more data), with a reason and every number it used.
// Pure: the caller gathers the traffic and the outcomes (both from the hub's
// durable store, StatsSink.Query: TrafficFromReport / OutcomeFromReport) and
// keeps the sequential p-value between looks (flights persist it).
//
// Metrics and decisions ("n" is per arm; both arms need n ≥ min_samples, else wait):
// - error_rate: n = requests, rate = 5xx / requests. Fail when treatment rate −
//   control rate > max_increase (absolute, a fraction: 0.01 = one point), else
//   pass. A one-sided two-proportion z p-value (H1: treatment rate higher) is
//   reported in the numbers but does not decide.
// - latency_p99: n = requests. Fail when p99_t > p99_c · (1 + max_increase)
//   (relative: 0.2 = +20%), else pass.
// - conversion: n = users exposed, values 0/1 (converted or not).
//   mean: n = the event's values (one per event).
//   test "sequential": mSPRT (hub::MsprtNormal), always valid under peeking.
//     Pass when it rejects (running p ≤ alpha) and this look's difference is
//     > 0; fail when it rejects and the difference is < 0; else wait. The
//     running p is min(previous_p, this look's p): pass numbers["p_value"]
//     back as previous_p on the next look. Also needs n ≥ 2.
//     tau_squared 0 means the default τ² = (0.1·σ)², σ² the sample variance
//     of both arms pooled together: a prior on effects of about a tenth of a
//     standard deviation (1 when σ² is 0: every value equal, τ² is then moot).
//   test "fixed": a single decision once n ≥ min_samples (TwoProportionZTest
//     for conversion, WelchTTest for mean), one-sided in favour of the
//     treatment: pass when difference > 0 and p_one_sided = p_two_sided / 2 <
//     alpha, else fail (no evidence of improvement is a fail). Looking again
//     later is peeking: use sequential for that.
// Data a test cannot run on (e.g. more converted than users) gives wait,
// never pass, with the test's error as the reason.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "contract/stats_math.h"
#include "skyport/v1/router.pb.h"

namespace skyport::hub {

struct GateSpec {
  std::string metric;   // error_rate | latency_p99 | conversion | mean
  std::string arm;      // the treatment (commit or prefix); "" = chosen by the caller
  std::string control;  // the control (commit or prefix); "" = chosen by the caller
  // error_rate: absolute (a fraction, 0.01 = one point); latency_p99: relative (0.2 = +20%).
  double max_increase = 0;
  uint64_t min_samples = 100;
  std::string event;  // conversion | mean: the event
  std::string test = "sequential";  // sequential | fixed
  double alpha = 0.05;
  double tau_squared = 0;  // mSPRT mixing variance; 0 = the default above
};

// A gate step of a flight spec:
//   {"action":"gate","metric":"error_rate","arm":"treatment","max_increase":0.01}
//   {"action":"gate","metric":"conversion","event":"purchase","test":"sequential","alpha":0.05}
// Fields: action ("gate", optional), metric (required), arm, control (strings),
// max_increase (number ≥ 0, ≤ 1 for error_rate; required for error_rate and
// latency_p99, not allowed otherwise), min_samples (integer ≥ 1), event
// (required for conversion and mean, [A-Za-z0-9_.:-]{1,64}, not allowed
// otherwise), test, alpha (in (0, 1)) and tau_squared (finite ≥ 0) (conversion
// and mean only). Unknown fields are errors. Every problem is collected, each
// as "PATH: ..." (PATH = `path` + "." + field, or the field alone when `path`
// is ""), joined with "; " into one INVALID_ARGUMENT.
Result<GateSpec> ParseGateSpec(const nlohmann::json& step, const std::string& path = "");

// Router traffic of one arm.
struct ArmTraffic {
  uint64_t requests = 0;
  uint64_t errors = 0;  // 5xx
  double p99_us = 0;
};

// Hub outcomes of one arm.
struct ArmOutcome {
  Proportion users;  // users exposed / converted
  Moments values;    // the event's values
};

struct GateVerdict {
  enum Kind { kPass, kFail, kWait };
  Kind kind = kWait;
  std::string reason;  // one line, for people
  // Every number used: {"metric", "verdict", "min_samples", "control": {...},
  // "treatment": {...}, and per metric (non-finite numbers are null):
  //   error_rate: arms {"requests","errors","rate"}, "difference", "max_increase", "z", "p_value" (one-sided)
  //   latency_p99: arms {"requests","p99_us"}, "threshold_us", "max_increase", "relative_change" (null when control is 0)
  //   conversion/mean: arms {"n", "mean"} (+ "users","converted" for conversion,
  //     "sum","sum_squares","stddev" for mean), "test", "alpha", "difference",
  //     sequential: "tau_squared", "tau_squared_default" (bool), "variance", "log_lambda",
  //       "p_look", "previous_p", "p_value" (the running one), "ci": [low, high]
  //     fixed: "p_two_sided", "p_value" (one-sided), "statistic" (z or t), "ci": [low, high] (95%)}
  // Before the test runs (wait for samples) only the arms' figures and thresholds.
  nlohmann::json numbers;
};

const char* GateKindName(GateVerdict::Kind kind);

// `arm`'s rows of a StatsSink report (hub/stats/stats_store.h) summed over buckets:
// users exposed / with the event, and the event's count, sum and sum of squares.
ArmOutcome OutcomeFromReport(const v1::StatsReport& report, const std::string& arm);
// `arm`'s requests and 5xx summed over buckets, and its latency p99.
ArmTraffic TrafficFromReport(const v1::StatsReport& report, const std::string& arm);  // "pass" | "fail" | "wait"

// The verdict of `spec` on the data. `spec` must have passed ParseGateSpec;
// previous_p: the running p of the previous look (sequential only), 1 at first.
GateVerdict EvaluateGate(const GateSpec& spec, const ArmTraffic& control, const ArmTraffic& treatment,
                         const ArmOutcome& control_o, const ArmOutcome& treatment_o, double previous_p = 1);

}  // namespace skyport::hub
