#include "contract/gates.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/json_fields.h"
#include "core/latency_histogram.h"
#include "core/problems.h"

namespace skyport::hub {
namespace {

using nlohmann::json;

bool Outcome(const std::string& metric) { return metric == "conversion" || metric == "mean"; }
bool Traffic(const std::string& metric) { return metric == "error_rate" || metric == "latency_p99"; }

bool ValidEvent(const std::string& e) {
  if (e.empty() || e.size() > 64) return false;
  return std::all_of(e.begin(), e.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
  });
}

// Null for ±∞ and NaN: JSON has no such numbers.
json Num(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

// The problems of one step, each named "<path>.<field>".
class FieldProblems {
 public:
  explicit FieldProblems(std::string path) : path_(std::move(path)) {}
  void Add(const std::string& field, const std::string& what) {
    all_.Add(path_.empty() ? field : path_ + "." + field, what);
  }
  Status ToStatus() const { return all_.ToStatus(); }
  Problems& all() { return all_; }  // for checks that name their own full path

 private:
  std::string path_;
  Problems all_;
};

GateVerdict Verdict(GateVerdict::Kind kind, std::string reason, json numbers) {
  numbers["verdict"] = GateKindName(kind);
  return {kind, std::move(reason), std::move(numbers)};
}

// Wait unless both arms have min_samples (and at least `floor`).
bool Enough(uint64_t c, uint64_t t, uint64_t min_samples, uint64_t floor = 0) {
  const uint64_t need = std::max(min_samples, floor);
  return c >= need && t >= need;
}

std::string WaitReason(const char* what, uint64_t c, uint64_t t, uint64_t need) {
  return fmt::format("waiting for {} {} per arm (control {}, treatment {})", need, what, c, t);
}

GateVerdict ErrorRate(const GateSpec& s, const ArmTraffic& c, const ArmTraffic& t, json n) {
  auto arm = [](const ArmTraffic& a) {
    return json{{"requests", a.requests}, {"errors", a.errors},
                {"rate", a.requests ? double(a.errors) / double(a.requests) : 0.0}};
  };
  n["control"] = arm(c);
  n["treatment"] = arm(t);
  n["max_increase"] = s.max_increase;
  if (!Enough(c.requests, t.requests, s.min_samples))
    return Verdict(GateVerdict::kWait, WaitReason("requests", c.requests, t.requests, s.min_samples), n);
  const double rc = n["control"]["rate"], rt = n["treatment"]["rate"];
  const double diff = rt - rc;
  n["difference"] = diff;
  auto z = TwoProportionZTest({c.requests, c.errors}, {t.requests, t.errors});
  if (z.ok()) {
    n["z"] = Num(z->z);
    // One-sided, H1: the treatment's rate is higher.
    n["p_value"] = z->z > 0 ? z->p_value / 2 : 1 - z->p_value / 2;
  } else {
    n["z"] = nullptr;
    n["p_value"] = nullptr;
  }
  if (diff > s.max_increase)
    return Verdict(GateVerdict::kFail,
                   fmt::format("error rate {:.3f}% is {:+.3f} points over control's {:.3f}% (at most {:+.3f})",
                               100 * rt, 100 * diff, 100 * rc, 100 * s.max_increase),
                   n);
  return Verdict(GateVerdict::kPass,
                 fmt::format("error rate {:.3f}% vs control's {:.3f}% ({:+.3f} points, at most {:+.3f})", 100 * rt,
                             100 * rc, 100 * diff, 100 * s.max_increase),
                 n);
}

GateVerdict LatencyP99(const GateSpec& s, const ArmTraffic& c, const ArmTraffic& t, json n) {
  n["control"] = {{"requests", c.requests}, {"p99_us", c.p99_us}};
  n["treatment"] = {{"requests", t.requests}, {"p99_us", t.p99_us}};
  n["max_increase"] = s.max_increase;
  const double threshold = c.p99_us * (1 + s.max_increase);
  n["threshold_us"] = threshold;
  n["relative_change"] = c.p99_us > 0 ? json(t.p99_us / c.p99_us - 1) : json(nullptr);
  if (!Enough(c.requests, t.requests, s.min_samples))
    return Verdict(GateVerdict::kWait, WaitReason("requests", c.requests, t.requests, s.min_samples), n);
  if (t.p99_us > threshold)
    return Verdict(GateVerdict::kFail,
                   fmt::format("p99 {:.0f} µs is over {:.0f} µs (control's {:.0f} µs {:+.0f}%)", t.p99_us,
                               threshold, c.p99_us, 100 * s.max_increase),
                   n);
  return Verdict(GateVerdict::kPass,
                 fmt::format("p99 {:.0f} µs is within {:.0f} µs (control's {:.0f} µs {:+.0f}%)", t.p99_us,
                             threshold, c.p99_us, 100 * s.max_increase),
                 n);
}

json OutcomeArm(const GateSpec& s, const ArmOutcome& o) {
  if (s.metric == "conversion")
    return {{"n", o.users.users}, {"users", o.users.users}, {"converted", o.users.converted},
            {"mean", o.users.Rate()}};
  return {{"n", o.values.n},
          {"sum", o.values.sum},
          {"sum_squares", o.values.sum_sq},
          {"mean", o.values.n ? json(o.values.Mean()) : json(nullptr)},
          {"stddev", o.values.n >= 2 ? Num(std::sqrt(o.values.Variance())) : json(nullptr)}};
}

// Positive difference and significant: pass; negative and significant: fail.
GateVerdict Sequential(const GateSpec& s, Moments mc, Moments mt, double previous_p, json n) {
  double tau2 = s.tau_squared;
  n["tau_squared_default"] = tau2 == 0;
  if (tau2 == 0) {
    Moments pooled{mc.n + mt.n, mc.sum + mt.sum, mc.sum_sq + mt.sum_sq};
    const double var = pooled.Variance();
    tau2 = var > 0 ? 0.01 * var : 1.0;
  }
  n["tau_squared"] = tau2;
  n["previous_p"] = previous_p;
  auto r = MsprtNormal(mc, mt, tau2, s.alpha, previous_p);
  if (!r.ok()) return Verdict(GateVerdict::kWait, "cannot test yet: " + r.status().message(), n);
  n["difference"] = r->difference;
  n["variance"] = r->variance;
  n["log_lambda"] = Num(r->log_lambda);
  n["p_look"] = std::min(1.0, std::exp(-r->log_lambda));
  n["p_value"] = r->p_value;
  n["ci"] = {Num(r->ci.low), Num(r->ci.high)};
  const std::string figures =
      fmt::format("difference {:+.6g}, sequential p {:.4g} (alpha {})", r->difference, r->p_value, s.alpha);
  if (r->reject && r->difference > 0)
    return Verdict(GateVerdict::kPass, "treatment is better: " + figures, n);
  if (r->reject && r->difference < 0)
    return Verdict(GateVerdict::kFail, "treatment is worse: " + figures, n);
  return Verdict(GateVerdict::kWait, "no decision yet: " + figures, n);
}

GateVerdict Fixed(const GateSpec& s, const ArmOutcome& c, const ArmOutcome& t, json n) {
  double diff, p2, stat;
  Interval ci;
  if (s.metric == "conversion") {
    auto r = TwoProportionZTest(c.users, t.users);
    if (!r.ok()) return Verdict(GateVerdict::kWait, "cannot test yet: " + r.status().message(), n);
    diff = r->difference, p2 = r->p_value, stat = r->z, ci = r->ci;
  } else {
    auto r = WelchTTest(c.values, t.values);
    if (!r.ok()) return Verdict(GateVerdict::kWait, "cannot test yet: " + r.status().message(), n);
    diff = r->difference, p2 = r->p_value, stat = r->t, ci = r->ci;
  }
  // One-sided in favour of the treatment.
  const double p1 = diff > 0 ? p2 / 2 : 1 - p2 / 2;
  n["difference"] = diff;
  n["statistic"] = Num(stat);
  n["p_two_sided"] = p2;
  n["p_value"] = p1;
  n["ci"] = {Num(ci.low), Num(ci.high)};
  const std::string figures = fmt::format("difference {:+.6g}, one-sided p {:.4g} (alpha {})", diff, p1, s.alpha);
  if (diff > 0 && p1 < s.alpha) return Verdict(GateVerdict::kPass, "treatment is better: " + figures, n);
  return Verdict(GateVerdict::kFail, "no significant improvement: " + figures, n);
}

GateVerdict OutcomeGate(const GateSpec& s, const ArmOutcome& c, const ArmOutcome& t, double previous_p, json n) {
  n["control"] = OutcomeArm(s, c);
  n["treatment"] = OutcomeArm(s, t);
  n["test"] = s.test;
  n["alpha"] = s.alpha;
  const bool conversion = s.metric == "conversion";
  const Moments mc = conversion ? Moments::FromProportion(c.users) : c.values;
  const Moments mt = conversion ? Moments::FromProportion(t.users) : t.values;
  // Every test here needs 2 per arm (a variance); the z-test needs 1.
  if (!Enough(mc.n, mt.n, s.min_samples, conversion && s.test == "fixed" ? 1 : 2))
    return Verdict(GateVerdict::kWait,
                   WaitReason(conversion ? "users" : "values", mc.n, mt.n,
                              std::max<uint64_t>(s.min_samples, conversion && s.test == "fixed" ? 1 : 2)),
                   n);
  if (s.test == "sequential") return Sequential(s, mc, mt, previous_p, n);
  return Fixed(s, c, t, n);
}

}  // namespace

const char* GateKindName(GateVerdict::Kind kind) {
  switch (kind) {
    case GateVerdict::kPass:
      return "pass";
    case GateVerdict::kFail:
      return "fail";
    case GateVerdict::kWait:
      break;
  }
  return "wait";
}

Result<GateSpec> ParseGateSpec(const json& step, const std::string& path) {
  if (!step.is_object())
    return Status::InvalidArgument(fmt::format("{}: must be an object", path.empty() ? "gate" : path));
  FieldProblems problems(path);
  GateSpec spec;
  CheckKnownFields(step, path,
                   {"action", "metric", "arm", "control", "max_increase", "min_samples", "event", "test", "alpha",
                    "tau_squared"},
                   problems.all());

  auto string_field = [&](const char* key, std::string& out) {
    if (!step.contains(key)) return false;
    if (!step[key].is_string()) {
      problems.Add(key, "must be a string");
      return false;
    }
    out = step[key].get<std::string>();
    return true;
  };
  auto number_field = [&](const char* key, double& out) {
    if (!step.contains(key)) return false;
    if (!step[key].is_number() || !std::isfinite(step[key].get<double>())) {
      problems.Add(key, "must be a finite number");
      return false;
    }
    out = step[key].get<double>();
    return true;
  };

  std::string action;
  if (string_field("action", action) && action != "gate")
    problems.Add("action", fmt::format("must be \"gate\", not \"{}\"", action));

  const bool has_metric = string_field("metric", spec.metric);
  if (!step.contains("metric"))
    problems.Add("metric", "required (error_rate, latency_p99, conversion or mean)");
  else if (has_metric && !Traffic(spec.metric) && !Outcome(spec.metric))
    problems.Add("metric", fmt::format("\"{}\" is not error_rate, latency_p99, conversion or mean", spec.metric));
  const bool known = Traffic(spec.metric) || Outcome(spec.metric);

  string_field("arm", spec.arm);
  string_field("control", spec.control);

  if (number_field("max_increase", spec.max_increase)) {
    if (known && !Traffic(spec.metric))
      problems.Add("max_increase", fmt::format("only for error_rate and latency_p99, not {}", spec.metric));
    else if (spec.max_increase < 0)
      problems.Add("max_increase", fmt::format("{} is negative", spec.max_increase));
    else if (spec.metric == "error_rate" && spec.max_increase > 1)
      problems.Add("max_increase", fmt::format("{} is over 1 (a fraction: 0.01 is one point)", spec.max_increase));
  } else if (!step.contains("max_increase") && Traffic(spec.metric)) {
    problems.Add("max_increase", fmt::format("required for {}", spec.metric));
  }

  if (step.contains("min_samples")) {
    const json& m = step["min_samples"];
    if (!m.is_number_integer() || (m.is_number_unsigned() ? m.get<uint64_t>() < 1 : m.get<int64_t>() < 1))
      problems.Add("min_samples", "must be an integer >= 1");
    else
      spec.min_samples = m.get<uint64_t>();
  }

  if (string_field("event", spec.event)) {
    if (known && !Outcome(spec.metric))
      problems.Add("event", fmt::format("only for conversion and mean, not {}", spec.metric));
    else if (!ValidEvent(spec.event))
      problems.Add("event", fmt::format("\"{}\" is not [A-Za-z0-9_.:-]{{1,64}}", spec.event));
  } else if (!step.contains("event") && Outcome(spec.metric)) {
    problems.Add("event", fmt::format("required for {}", spec.metric));
  }

  auto outcome_only = [&](const char* key) {
    if (step.contains(key) && known && !Outcome(spec.metric))
      problems.Add(key, fmt::format("only for conversion and mean, not {}", spec.metric));
  };
  outcome_only("test");
  outcome_only("alpha");
  outcome_only("tau_squared");
  if (string_field("test", spec.test) && spec.test != "sequential" && spec.test != "fixed")
    problems.Add("test", fmt::format("\"{}\" is not sequential or fixed", spec.test));
  if (number_field("alpha", spec.alpha) && !(spec.alpha > 0 && spec.alpha < 1))
    problems.Add("alpha", fmt::format("{} is not in (0, 1)", spec.alpha));
  if (number_field("tau_squared", spec.tau_squared) && spec.tau_squared < 0)
    problems.Add("tau_squared", fmt::format("{} is negative (0 = the default)", spec.tau_squared));

  if (Status s = problems.ToStatus(); !s.ok()) return s;
  return spec;
}

GateVerdict EvaluateGate(const GateSpec& spec, const ArmTraffic& control, const ArmTraffic& treatment,
                         const ArmOutcome& control_o, const ArmOutcome& treatment_o, double previous_p) {
  json n = {{"metric", spec.metric}, {"min_samples", spec.min_samples}};
  if (spec.metric == "error_rate") return ErrorRate(spec, control, treatment, n);
  if (spec.metric == "latency_p99") return LatencyP99(spec, control, treatment, n);
  if (Outcome(spec.metric)) return OutcomeGate(spec, control_o, treatment_o, previous_p, n);
  return Verdict(GateVerdict::kWait, fmt::format("unknown metric \"{}\"", spec.metric), n);
}

ArmOutcome OutcomeFromReport(const v1::StatsReport& report, const std::string& arm) {
  ArmOutcome o;
  for (const auto& row : report.rows()) {
    if (row.arm() != arm) continue;
    o.users.users += row.users_exposed();
    o.users.converted += row.users_with_event();
    o.values.n += row.event_count();
    o.values.sum += row.sum();
    o.values.sum_sq += row.sum_squares();
  }
  return o;
}

ArmTraffic TrafficFromReport(const v1::StatsReport& report, const std::string& arm) {
  ArmTraffic t;
  std::array<uint64_t, kLatencyBuckets> merged{};
  for (const auto& row : report.rows()) {
    if (row.arm() != arm) continue;
    t.requests += row.requests();
    t.errors += row.errors_5xx();
    for (int i = 0; i < row.latency_counts_size() && static_cast<size_t>(i) < merged.size(); ++i)
      merged[static_cast<size_t>(i)] += row.latency_counts(i);
  }
  t.p99_us = LatencyQuantileUs(merged, 0.99);
  return t;
}

}  // namespace skyport::hub
