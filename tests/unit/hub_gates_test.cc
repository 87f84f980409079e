#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "contract/gates.h"

namespace skyport::hub {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& j, const std::string& path = "") {
  auto r = ParseGateSpec(j, path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

TEST_CASE("ParseGateSpec accepts the flight step shapes", "[hub][gates]") {
  auto e = ParseGateSpec(json::parse(R"({"action":"gate","metric":"error_rate","arm":"treatment","max_increase":0.01})"));
  REQUIRE(e.ok());
  CHECK(e->metric == "error_rate");
  CHECK(e->arm == "treatment");
  CHECK(e->max_increase == 0.01);
  CHECK(e->min_samples == 100);

  auto c = ParseGateSpec(
      json::parse(R"({"action":"gate","metric":"conversion","event":"purchase","test":"sequential","alpha":0.05})"));
  REQUIRE(c.ok());
  CHECK(c->event == "purchase");
  CHECK(c->test == "sequential");
  CHECK(c->alpha == 0.05);
  CHECK(c->tau_squared == 0);

  auto m = ParseGateSpec(json{{"metric", "mean"}, {"event", "revenue"}, {"test", "fixed"}, {"min_samples", 500},
                              {"control", "abc"}, {"tau_squared", 2.5}});
  REQUIRE(m.ok());
  CHECK(m->test == "fixed");
  CHECK(m->min_samples == 500);
  CHECK(m->control == "abc");
  CHECK(m->tau_squared == 2.5);

  auto l = ParseGateSpec(json{{"metric", "latency_p99"}, {"max_increase", 3}});
  REQUIRE(l.ok());  // relative: +300% is allowed
  CHECK(l->max_increase == 3);
}

TEST_CASE("ParseGateSpec collects every problem with its path", "[hub][gates]") {
  CHECK(ErrorOf(json::array()) == "gate: must be an object");
  CHECK(ErrorOf(json(3), "steps[1]") == "steps[1]: must be an object");
  CHECK(ErrorOf(json::object()) == "metric: required (error_rate, latency_p99, conversion or mean)");
  CHECK(ErrorOf(json{{"metric", "error_rate"}}) == "max_increase: required for error_rate");
  CHECK(ErrorOf(json{{"metric", "conversion"}}) == "event: required for conversion");

  const std::string all = ErrorOf(json{{"action", "deploy"},
                                       {"metric", "error_rate"},
                                       {"arm", 7},
                                       {"max_increase", 2},
                                       {"min_samples", 0},
                                       {"event", "purchase"},
                                       {"alpha", 0.5},
                                       {"colour", "red"}},
                                  "steps[2]");
  CHECK(all ==
        "steps[2].colour: unknown field (known: action, metric, arm, control, max_increase, min_samples, event, test, "
        "alpha, tau_squared); "
        "steps[2].action: must be \"gate\", not \"deploy\"; "
        "steps[2].arm: must be a string; "
        "steps[2].max_increase: 2 is over 1 (a fraction: 0.01 is one point); "
        "steps[2].min_samples: must be an integer >= 1; "
        "steps[2].event: only for conversion and mean, not error_rate; "
        "steps[2].alpha: only for conversion and mean, not error_rate");

  const std::string outcome = ErrorOf(json{{"metric", "mean"},
                                           {"event", "bad event"},
                                           {"max_increase", 0.1},
                                           {"test", "bayes"},
                                           {"alpha", 1},
                                           {"tau_squared", -1},
                                           {"min_samples", 1.5}});
  CHECK(outcome ==
        "max_increase: only for error_rate and latency_p99, not mean; "
        "min_samples: must be an integer >= 1; "
        "event: \"bad event\" is not [A-Za-z0-9_.:-]{1,64}; "
        "test: \"bayes\" is not sequential or fixed; "
        "alpha: 1 is not in (0, 1); "
        "tau_squared: -1 is negative (0 = the default)");

  CHECK(ErrorOf(json{{"metric", "p50"}, {"max_increase", "x"}}) ==
        "metric: \"p50\" is not error_rate, latency_p99, conversion or mean; max_increase: must be a finite number");
  CHECK(ErrorOf(json{{"metric", "latency_p99"}, {"max_increase", -0.1}}) == "max_increase: -0.1 is negative");
  CHECK(ErrorOf(json{{"metric", 3}}) == "metric: must be a string");
}

GateSpec Spec(const std::string& metric) {
  GateSpec s;
  s.metric = metric;
  if (metric == "conversion" || metric == "mean") s.event = "purchase";
  return s;
}

const ArmOutcome kNoOutcome{};
const ArmTraffic kNoTraffic{};

TEST_CASE("error_rate gate: wait for samples, then an absolute maximum increase", "[hub][gates]") {
  GateSpec s = Spec("error_rate");
  s.max_increase = 0.25;
  s.min_samples = 400;
  const ArmTraffic control{400, 100, 0};

  auto v = EvaluateGate(s, control, {399, 0, 0}, kNoOutcome, kNoOutcome);
  CHECK(v.kind == GateVerdict::kWait);
  CHECK(v.reason == "waiting for 400 requests per arm (control 400, treatment 399)");
  CHECK(v.numbers["verdict"] == "wait");
  CHECK_FALSE(v.numbers.contains("difference"));

  v = EvaluateGate(s, control, {400, 200, 0}, kNoOutcome, kNoOutcome);  // +0.25 exactly: allowed
  CHECK(v.kind == GateVerdict::kPass);
  CHECK(v.numbers["difference"] == 0.25);
  v = EvaluateGate(s, control, {400, 201, 0}, kNoOutcome, kNoOutcome);
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.numbers["verdict"] == "fail");

  // The numbers: every figure, and a one-sided p (treatment higher).
  const json& n = v.numbers;
  CHECK(n["metric"] == "error_rate");
  CHECK(n["min_samples"] == 400);
  CHECK(n["max_increase"] == 0.25);
  CHECK(n["control"] == json{{"requests", 400}, {"errors", 100}, {"rate", 0.25}});
  CHECK(n["treatment"]["rate"] == Approx(201.0 / 400));
  CHECK(n["difference"] == Approx(201.0 / 400 - 0.25));
  CHECK(n["z"].get<double>() > 0);
  CHECK(n["p_value"].get<double>() < 1e-6);

  // A lower error rate passes, and its one-sided p is near 1.
  v = EvaluateGate(s, control, {400, 10, 0}, kNoOutcome, kNoOutcome);
  CHECK(v.kind == GateVerdict::kPass);
  CHECK(v.numbers["p_value"].get<double>() > 0.99);
}

TEST_CASE("latency_p99 gate: relative maximum increase", "[hub][gates]") {
  GateSpec s = Spec("latency_p99");
  s.max_increase = 0.25;
  const ArmTraffic control{1000, 0, 1000};
  CHECK(EvaluateGate(s, control, {99, 0, 9999}, kNoOutcome, kNoOutcome).kind == GateVerdict::kWait);
  auto v = EvaluateGate(s, control, {100, 0, 1250}, kNoOutcome, kNoOutcome);
  CHECK(v.kind == GateVerdict::kPass);
  CHECK(v.numbers["threshold_us"] == 1250.0);
  CHECK(v.numbers["relative_change"] == 0.25);
  CHECK(v.numbers["treatment"] == json{{"requests", 100}, {"p99_us", 1250.0}});
  v = EvaluateGate(s, control, {100, 0, 1251}, kNoOutcome, kNoOutcome);
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.reason == "p99 1251 µs is over 1250 µs (control's 1000 µs +25%)");

  // A control without latency: any treatment latency fails, no relative change.
  v = EvaluateGate(s, {1000, 0, 0}, {1000, 0, 1}, kNoOutcome, kNoOutcome);
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.numbers["relative_change"].is_null());
}

ArmOutcome Users(uint64_t users, uint64_t converted) { return {{users, converted}, {}}; }

TEST_CASE("conversion gate, sequential: pass, fail or wait on the mSPRT", "[hub][gates]") {
  GateSpec s = Spec("conversion");
  s.min_samples = 1000;
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, Users(999, 100), Users(5000, 900)).kind == GateVerdict::kWait);

  auto v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(5000, 500), Users(5000, 700));
  CHECK(v.kind == GateVerdict::kPass);
  CHECK(v.numbers["p_value"].get<double>() <= 0.05);
  CHECK(v.numbers["difference"] == Approx(0.04));
  CHECK(v.numbers["tau_squared_default"] == true);
  // Default τ²: a tenth of the pooled standard deviation, squared.
  Moments pooled = Moments::FromProportion({10000, 1200});
  CHECK(v.numbers["tau_squared"] == Approx(0.01 * pooled.Variance()));
  for (const char* key : {"variance", "log_lambda", "p_look", "previous_p", "ci", "alpha", "test"})
    CHECK(v.numbers.contains(key));
  CHECK(v.numbers["control"] == json{{"n", 5000}, {"users", 5000}, {"converted", 500}, {"mean", 0.1}});

  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(5000, 700), Users(5000, 500));
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.reason.rfind("treatment is worse: ", 0) == 0);

  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(5000, 500), Users(5000, 510));
  CHECK(v.kind == GateVerdict::kWait);
  CHECK(v.numbers["p_value"].get<double>() > 0.05);
}

TEST_CASE("conversion gate, sequential: the p-value is a running minimum", "[hub][gates]") {
  GateSpec s = Spec("conversion");
  const ArmOutcome c = Users(5000, 500), t = Users(5000, 510);
  auto first = EvaluateGate(s, kNoTraffic, kNoTraffic, c, t);
  REQUIRE(first.kind == GateVerdict::kWait);
  const double p_look = first.numbers["p_look"];
  CHECK(first.numbers["p_value"] == p_look);

  // An earlier look already reached alpha: the running p stays there, and the
  // direction of this look decides.
  auto later = EvaluateGate(s, kNoTraffic, kNoTraffic, c, t, 0.01);
  CHECK(later.numbers["p_value"] == 0.01);
  CHECK(later.numbers["previous_p"] == 0.01);
  CHECK(later.numbers["p_look"] == p_look);
  CHECK(later.kind == GateVerdict::kPass);
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, t, c, 0.01).kind == GateVerdict::kFail);
  // A previous p above this look's changes nothing.
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, c, t, 1).numbers["p_value"] == p_look);
}

TEST_CASE("conversion gate, fixed: one one-sided decision at min_samples", "[hub][gates]") {
  GateSpec s = Spec("conversion");
  s.test = "fixed";
  s.min_samples = 2000;
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, Users(1999, 200), Users(2000, 300)).kind == GateVerdict::kWait);
  auto v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(2000, 200), Users(2000, 260));
  CHECK(v.kind == GateVerdict::kPass);
  CHECK(v.numbers["p_value"] == Approx(v.numbers["p_two_sided"].get<double>() / 2));
  CHECK(v.numbers["statistic"].get<double>() > 0);
  // Not significant, or significantly worse: fail.
  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(2000, 200), Users(2000, 205));
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.reason.rfind("no significant improvement: ", 0) == 0);
  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(2000, 260), Users(2000, 200));
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.numbers["p_value"].get<double>() > 0.99);
  // Data the test refuses (more converted than users) waits, never passes.
  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Users(2000, 200), Users(2000, 2001));
  CHECK(v.kind == GateVerdict::kWait);
  CHECK(v.reason.rfind("cannot test yet: ", 0) == 0);
}

ArmOutcome Values(uint64_t n, double mean, double variance) {
  // sum_sq from the sample variance: (n − 1)·var + n·mean².
  return {{}, {n, n * mean, (n - 1) * variance + n * mean * mean}};
}

TEST_CASE("mean gate: sequential and fixed on the event's values", "[hub][gates]") {
  GateSpec s = Spec("mean");
  s.min_samples = 100;
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, Values(99, 10, 4), Values(500, 12, 4)).kind == GateVerdict::kWait);
  auto v = EvaluateGate(s, kNoTraffic, kNoTraffic, Values(500, 10, 4), Values(500, 11, 4));
  CHECK(v.kind == GateVerdict::kPass);
  CHECK(v.numbers["treatment"]["mean"] == Approx(11));
  CHECK(v.numbers["treatment"]["stddev"] == Approx(2));
  CHECK(v.numbers["treatment"]["n"] == 500);

  s.tau_squared = 0.25;
  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Values(500, 11, 4), Values(500, 10, 4));
  CHECK(v.kind == GateVerdict::kFail);
  CHECK(v.numbers["tau_squared"] == 0.25);
  CHECK(v.numbers["tau_squared_default"] == false);

  s.test = "fixed";
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, Values(500, 10, 4), Values(500, 11, 4)).kind == GateVerdict::kPass);
  CHECK(EvaluateGate(s, kNoTraffic, kNoTraffic, Values(500, 10, 4), Values(500, 10.01, 4)).kind ==
        GateVerdict::kFail);

  // Every value equal in both arms: no variance, no difference, no decision.
  s.test = "sequential";
  s.tau_squared = 0;
  v = EvaluateGate(s, kNoTraffic, kNoTraffic, Values(200, 5, 0), Values(200, 5, 0));
  CHECK(v.kind == GateVerdict::kWait);
  CHECK(v.numbers["tau_squared"] == 1.0);
}

TEST_CASE("GateKindName", "[hub][gates]") {
  CHECK(std::string(GateKindName(GateVerdict::kPass)) == "pass");
  CHECK(std::string(GateKindName(GateVerdict::kFail)) == "fail");
  CHECK(std::string(GateKindName(GateVerdict::kWait)) == "wait");
}

}  // namespace
}  // namespace skyport::hub

TEST_CASE("gate inputs from the hub's report: sums over buckets, p99 from the merged histogram", "[hub]") {
  skyport::v1::StatsReport report;
  auto add = [&](const std::string& arm, uint64_t requests, uint64_t errors, size_t bucket, uint64_t n) {
    auto* row = report.add_rows();
    row->set_arm(arm);
    row->set_requests(requests);
    row->set_errors_5xx(errors);
    row->set_users_exposed(requests / 2);
    row->set_users_with_event(errors);
    row->set_event_count(errors);
    row->set_sum(2.0 * static_cast<double>(errors));
    row->set_sum_squares(4.0 * static_cast<double>(errors));
    for (size_t i = 0; i <= bucket; ++i) row->add_latency_counts(i == bucket ? n : 0);
  };
  add("t", 100, 5, 2, 100);   // 100 requests in (500, 1000] us
  add("t", 100, 1, 6, 100);   // 100 in (10000, 25000] us
  add("c", 50, 0, 0, 50);
  auto t = skyport::hub::TrafficFromReport(report, "t");
  CHECK(t.requests == 200);
  CHECK(t.errors == 6);
  // Rank 198 of 200 falls in the (10000, 25000] bucket, 98/100 of the way.
  CHECK(t.p99_us == Approx(10000 + 15000 * 0.98));
  auto c = skyport::hub::TrafficFromReport(report, "c");
  CHECK(c.p99_us == Approx(250 * 0.99));
  CHECK(skyport::hub::TrafficFromReport(report, "none").p99_us == 0);
  auto o = skyport::hub::OutcomeFromReport(report, "t");
  CHECK(o.users.users == 100);
  CHECK(o.users.converted == 6);
  CHECK(o.values.n == 6);
  CHECK(o.values.sum == 12);
}
