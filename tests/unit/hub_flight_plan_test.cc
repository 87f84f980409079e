#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hub/flights/flight_plan.h"

namespace skyport::hub {
namespace {

using Catch::Contains;
using nlohmann::json;
using K = Effect::Kind;
using O = Observation::Kind;
using Phase = StepRun::Phase;

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int64_t kSec = 1000, kMin = 60 * kSec, kHour = 60 * kMin;
const std::map<std::string, std::string> kCommits = {
    {"control", "c0c0c0c0"}, {"treatment", "7e7e7e7e"}, {"other", "0404aaaa"}};

FlightSpec MakeSpec(const std::string& plan, const std::string& patch = "{}") {
  json doc = {{"name", "checkout-v2"},
              {"app", "webapp"},
              {"arms", {{"control", "main"}, {"treatment", "feature"}}},
              {"control", "control"},
              {"flightplan", json::parse(plan)}};
  doc.merge_patch(json::parse(patch));
  auto r = ParseFlightSpec(doc);
  INFO(r.status().message());
  REQUIRE(r.ok());
  return *r;
}
const char* kThreeArms = R"({"arms":{"other":"o"}})";

Observation Obs(O kind, std::string step, std::string arm = "", bool ok = true, std::string message = "") {
  Observation o;
  o.kind = kind;
  o.step = std::move(step);
  o.arm = std::move(arm);
  o.ok = ok;
  o.message = std::move(message);
  return o;
}
Observation RouteWritten(uint64_t v) {
  Observation o = Obs(O::kRouteWritten, "");
  o.route_version = v;
  return o;
}
Observation Deployed(std::string step, std::string arm, bool ok = true, std::string msg = "") {
  return Obs(O::kDeployDone, step, arm, ok, msg);
}
Observation Stopped(std::string arm, bool ok = true) { return Obs(O::kStopDone, "", arm, ok); }
Observation Pinged(std::string step, int code) {
  Observation o = Obs(O::kPingDone, step, "", code >= 200 && code < 300);
  o.status_code = code;
  return o;
}
Observation Verdict(std::string step, GateVerdict::Kind kind, std::string reason, json numbers = json::object()) {
  Observation o = Obs(O::kGateVerdict, step);
  o.verdict.kind = kind;
  o.verdict.reason = std::move(reason);
  o.verdict.numbers = std::move(numbers);
  return o;
}
Observation GateError(std::string step, std::string message) { return Obs(O::kGateVerdict, step, "", false, message); }

// Drives one flight with a fake clock.
struct Flight {
  explicit Flight(FlightSpec s) : spec(std::move(s)), state(NewFlightState(spec, "f-1", kCommits, kT0)) {}

  const std::vector<Effect>& Step(std::vector<Observation> obs = {}, std::optional<std::string> kill = {}) {
    StepInput in;
    in.now_unix_ms = now;
    in.observations = std::move(obs);
    in.kill_reason = std::move(kill);
    StepOutput out = StepFlight(spec, state, in, timings);
    state = std::move(out.state);
    effects = std::move(out.effects);
    wake = out.wake_unix_ms;
    for (const auto& e : effects)
      if (e.kind == K::kLog) kinds.insert(e.log_kind);
    return effects;
  }
  // Acknowledges the route write issued by the last step (and steps on).
  void WriteRoute() {
    auto w = Of(K::kWriteRoute);
    REQUIRE(w.size() == 1);
    Step({RouteWritten(w[0].route_version)});
  }
  std::vector<Effect> Of(K kind) const {
    std::vector<Effect> out;
    std::copy_if(effects.begin(), effects.end(), std::back_inserter(out),
                 [&](const Effect& e) { return e.kind == kind; });
    return out;
  }
  bool Logged(const std::string& kind, const std::string& text) const {
    return std::any_of(effects.begin(), effects.end(), [&](const Effect& e) {
      return e.kind == K::kLog && e.log_kind == kind && e.message.find(text) != std::string::npos;
    });
  }
  const StepRun& Run(size_t g, size_t i = 0) const { return state.runs.at(g).at(i); }

  FlightSpec spec;
  FlightState state;
  PlanTimings timings;
  int64_t now = kT0;
  std::vector<Effect> effects;
  int64_t wake = 0;
  std::set<std::string> kinds;  // every log kind seen
};

TEST_CASE("NewFlightState starts running with nothing done", "[hub][flight]") {
  FlightSpec spec =
      MakeSpec(R"([{"action":"log","message":"a"},[{"action":"wait","for":"1m"},{"action":"wait","for":"2m"}]])");
  FlightState s = NewFlightState(spec, "f-1", kCommits, kT0);
  CHECK(s.status == FlightStatus::kRunning);
  CHECK(s.id == "f-1");
  CHECK(s.started_unix_ms == kT0);
  CHECK(s.route_version == 1);
  CHECK(s.route_written == 0);
  CHECK(s.weights.empty());
  REQUIRE(s.runs.size() == 2);
  CHECK(s.runs[0].size() == 1);
  CHECK(s.runs[1].size() == 2);
  CHECK(s.runs[1][1].phase == Phase::kPending);
  CHECK_FALSE(FlightFinished(s));
}

TEST_CASE("StepFlight runs steps in sequence and ends done", "[hub][flight]") {
  Flight f(MakeSpec(
      R"([{"action":"log","message":"hello"},{"action":"wait","for":"10m"},{"action":"log","message":"bye"}])"));
  f.Step();
  CHECK(f.Logged("start", "checkout-v2"));
  CHECK(f.Logged("log", "hello"));
  CHECK(f.Logged("step", "2: wait 10m"));
  CHECK(f.Logged("wait", "2026-01-01T00:10:00Z"));
  REQUIRE(f.Of(K::kWriteRoute).size() == 1);
  CHECK(f.Of(K::kWriteRoute)[0].route_version == 1);
  CHECK(f.Of(K::kWriteRoute)[0].step == "");
  CHECK(f.state.group == 1);
  CHECK(f.Run(0).phase == Phase::kDone);
  CHECK(StepPosition(f.state) == "2");
  CHECK(f.wake == kT0 + 10 * kMin);

  f.now = kT0 + 5 * kMin;
  f.Step();
  CHECK(f.Of(K::kWriteRoute).empty());  // still out
  CHECK(f.state.group == 1);
  CHECK(StepText(f.spec, f.state, f.now) == "wait 10m (5m left)");

  f.now = kT0 + 10 * kMin;
  f.Step({RouteWritten(1)});
  CHECK(f.Logged("log", "bye"));
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.end_status == FlightStatus::kDone);
  CHECK(f.Logged("cleanup", "done"));
  CHECK(StepText(f.spec, f.state, f.now) == "");
  CHECK(StepPosition(f.state) == "");
  REQUIRE(f.Of(K::kWriteRoute).size() == 1);
  CHECK(f.Of(K::kWriteRoute)[0].route_version == 2);
  f.WriteRoute();
  CHECK(f.state.status == FlightStatus::kDone);
  CHECK(f.state.ended_unix_ms == kT0 + 10 * kMin);
  CHECK(f.Logged("end", "done: the plan finished"));
  CHECK(FlightFinished(f.state));
  CHECK(f.Step().empty());  // final: nothing more
}

TEST_CASE("StepFlight runs a parallel group until all its steps are done", "[hub][flight]") {
  Flight f(MakeSpec(R"([[{"action":"wait","for":"1m"},{"action":"wait","for":"5m"}],{"action":"wait","for":"1m"}])"));
  f.Step();
  CHECK(f.Logged("step", "1.1: wait 1m"));
  CHECK(f.Logged("step", "1.2: wait 5m"));
  CHECK(f.wake == kT0 + kMin);
  f.now = kT0 + kMin;
  f.Step();
  CHECK(f.Run(0, 0).phase == Phase::kDone);
  CHECK(f.Run(0, 1).phase == Phase::kRunning);
  CHECK(f.state.group == 0);
  CHECK(StepText(f.spec, f.state, f.now) == "1: wait 5m (4m left)");
  CHECK(f.wake == kT0 + 5 * kMin);
  f.now = kT0 + 5 * kMin;
  f.Step();
  CHECK(f.state.group == 1);
  CHECK(f.Run(1).started_unix_ms == kT0 + 5 * kMin);  // the next group starts at once
}

TEST_CASE("StepFlight waits for an absolute deadline fixed at start", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"wait","for":"10m"},{"action":"wait","until":"2026-01-01T02:00:00Z"},
                        {"action":"wait","until":"2025-01-01T00:00:00Z"},{"action":"wait","for":"1h"}])"));
  f.Step();
  CHECK(f.Run(0).deadline_unix_ms == kT0 + 10 * kMin);
  f.now = kT0 + 10 * kMin - 1;
  f.Step();
  CHECK(f.state.group == 0);
  f.now = kT0 + 30 * kMin;  // called late: the wait ends now, the next one starts now
  f.Step();
  CHECK(f.Run(0).ended_unix_ms == kT0 + 30 * kMin);
  CHECK(f.Run(1).deadline_unix_ms == kT0 + 2 * kHour);
  CHECK(f.wake == kT0 + 2 * kHour);
  f.now = kT0 + 2 * kHour;
  f.Step();
  // An "until" in the past is over at once.
  CHECK(f.Run(2).phase == Phase::kDone);
  CHECK(f.state.group == 3);
  CHECK(f.Run(3).deadline_unix_ms == kT0 + 3 * kHour);
}

TEST_CASE("A weight step completes once its route version is written", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"weight","arms":{"treatment":5}},{"action":"log","message":"x"}])"));
  f.Step();
  CHECK(f.state.weights == std::map<std::string, double>{{"treatment", 5}});
  CHECK(f.Logged("weight", "treatment=5"));
  CHECK(f.Logged("weight", "control=95"));
  REQUIRE(f.Of(K::kWriteRoute).size() == 1);
  CHECK(f.Of(K::kWriteRoute)[0].route_version == 2);
  CHECK(f.Run(0).route_version == 2);

  RouteIntent r = DesiredRoute(f.spec, f.state);
  CHECK(r.weights == std::map<std::string, uint32_t>{{"c0c0c0c0", 950000}, {"7e7e7e7e", 50000}});
  CHECK(r.split_id == "f-1");
  REQUIRE(r.flight.has_value());
  CHECK(r.flight->id() == "f-1");
  CHECK(r.flight->name() == "checkout-v2");
  CHECK(r.flight->control() == "c0c0c0c0");
  CHECK(r.flight->arms().at("treatment") == "7e7e7e7e");
  CHECK(r.flight->range_key() == "uid");
  CHECK(r.flight->range_ge() == 0);
  CHECK(r.flight->range_lt() == 1000000);

  f.Step({RouteWritten(1)});  // an older version does not complete it
  CHECK(f.Run(0).phase == Phase::kRunning);
  CHECK(f.state.route_written == 1);
  REQUIRE(f.Of(K::kWriteRoute).size() == 1);  // the newer one goes out again
  f.Step({RouteWritten(2)});
  CHECK(f.Run(0).phase == Phase::kDone);
  CHECK(f.Run(0).note == "route v2 written");
  CHECK(f.state.group >= 1);
}

TEST_CASE("Deploy ok records the arm; deploy failure cleans up", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"deploy","arm":"control"},
      [{"action":"deploy","arm":"treatment","instances":2},{"action":"deploy","arm":"other"}],
      {"action":"log","message":"never"}])",
                    kThreeArms));
  f.Step();
  auto d = f.Of(K::kDeploy);
  REQUIRE(d.size() == 1);
  CHECK(d[0].step == "1");
  CHECK(d[0].arm == "control");
  CHECK(d[0].commit == "c0c0c0c0");
  CHECK(d[0].instances == 1);
  f.Step();
  CHECK(f.Of(K::kDeploy).empty());  // at most one outstanding effect per step
  f.Step({RouteWritten(1), Deployed("1", "control")});
  CHECK(f.state.deployed == std::set<std::string>{"control"});
  CHECK(f.Logged("deploy", "deployed control"));
  d = f.Of(K::kDeploy);
  REQUIRE(d.size() == 2);
  CHECK(d[0].step == "2.1");
  CHECK(d[0].instances == 2);
  CHECK(d[1].step == "2.2");
  CHECK(d[1].commit == "0404aaaa");

  f.now += kSec;
  f.Step({Deployed("2.1", "treatment"), Deployed("2.2", "other", false, "no drone")});
  // A failed deploy may have worked on some drones: it is stopped too.
  CHECK(f.state.deployed == std::set<std::string>{"control", "other", "treatment"});
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.end_status == FlightStatus::kFailed);
  CHECK(f.state.reason == "deploy other failed: no drone");
  CHECK(f.Run(1, 1).phase == Phase::kFailed);
  CHECK(f.Logged("cleanup", "failed"));
  // The route goes back to control first; nothing stops before it is written.
  RouteIntent r = DesiredRoute(f.spec, f.state);
  CHECK(r.weights == std::map<std::string, uint32_t>{{"c0c0c0c0", 1000000}});
  CHECK_FALSE(r.flight.has_value());
  CHECK(f.Of(K::kStop).empty());
  REQUIRE(f.Of(K::kWriteRoute).size() == 1);
  f.WriteRoute();
  auto s = f.Of(K::kStop);
  REQUIRE(s.size() == 2);  // the control stays
  CHECK(s[0].arm == "other");
  CHECK(s[1].arm == "treatment");
  CHECK(s[1].commit == "7e7e7e7e");
  CHECK(s[1].step == "");
  f.Step();
  CHECK(f.Of(K::kStop).empty());
  f.Step({Stopped("treatment"), Stopped("other")});
  CHECK(f.state.status == FlightStatus::kFailed);
  CHECK(f.state.deployed == std::set<std::string>{"control"});
  CHECK(f.Logged("stop", "stopped treatment"));
  CHECK(f.Logged("end", "failed: deploy other failed: no drone"));
  CHECK(FlightFinished(f.state));
  CHECK(f.Run(2).phase == Phase::kPending);
}

const char* kGatePlan =
    R"([{"action":"gate","metric":"error_rate","arm":"treatment","max_increase":0.01,"timeout":"1h"},
                            {"action":"log","message":"passed"}])";

TEST_CASE("A gate looks until a verdict, carrying the running p", "[hub][flight]") {
  Flight f(MakeSpec(kGatePlan));
  f.now = kT0 + kSec;  // the data window still starts at the flight's start
  f.Step();
  auto g = f.Of(K::kGate);
  REQUIRE(g.size() == 1);
  CHECK(g[0].step == "1");
  CHECK(g[0].arm == "treatment");
  CHECK(g[0].gate.arm == "7e7e7e7e");
  CHECK(g[0].gate.control == "c0c0c0c0");
  CHECK(g[0].gate.metric == "error_rate");
  CHECK(g[0].previous_p == 1);
  CHECK(g[0].since_unix_ms == kT0);
  CHECK(StepText(f.spec, f.state, f.now) == "gate error_rate treatment (look 1)");

  f.Step({Verdict("1", GateVerdict::kWait, "waiting for 100 requests", {{"p_value", 0.3}})});
  CHECK(f.Logged("gate", "gate 1 (error_rate treatment): look 1: wait: waiting for 100 requests"));
  CHECK(f.Run(0).previous_p == 0.3);
  CHECK(f.Of(K::kGate).empty());
  CHECK(f.wake == kT0 + kSec + f.timings.gate_interval_ms);
  f.now = kT0 + kSec + f.timings.gate_interval_ms - 1;
  CHECK(f.Step().empty());
  f.now += 1;
  f.Step();
  g = f.Of(K::kGate);
  REQUIRE(g.size() == 1);
  CHECK(g[0].previous_p == 0.3);
  CHECK(f.Run(0).attempts == 2);

  // An evaluation error: logged, looked at again later.
  f.Step({GateError("1", "stats unavailable")});
  CHECK(f.Logged("error", "stats unavailable"));
  CHECK(f.Run(0).phase == Phase::kRunning);
  f.now += f.timings.gate_interval_ms;
  f.Step();
  REQUIRE(f.Of(K::kGate).size() == 1);

  json numbers = {{"metric", "error_rate"}, {"p_value", nullptr}};
  f.Step({Verdict("1", GateVerdict::kPass, "error rate fine", numbers)});
  CHECK(f.Run(0).phase == Phase::kDone);
  CHECK(f.Run(0).previous_p == 0.3);  // a null p is not carried
  CHECK(f.Logged("log", "passed"));
  auto gate_logs = std::count_if(f.effects.begin(), f.effects.end(),
                                 [&](const Effect& e) { return e.log_kind == "gate" && e.data == numbers; });
  CHECK(gate_logs == 1);
}

TEST_CASE("A failing gate cleans up with its reason", "[hub][flight]") {
  Flight f(MakeSpec(kGatePlan));
  f.Step();
  f.Step({RouteWritten(1), Verdict("1", GateVerdict::kFail, "error rate 5% is over")});
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.reason == "gate 1 (error_rate treatment): error rate 5% is over");
  CHECK(f.Run(0).phase == Phase::kFailed);
  f.WriteRoute();
  CHECK(f.state.status == FlightStatus::kFailed);  // nothing deployed: nothing to stop
}

TEST_CASE("A gate without a verdict before its timeout fails", "[hub][flight]") {
  Flight f(MakeSpec(kGatePlan));
  f.Step();
  CHECK(f.Run(0).deadline_unix_ms == kT0 + kHour);
  for (int i = 0; i < 5; ++i) {
    f.Step({Verdict("1", GateVerdict::kWait, "not enough data")});
    f.now += f.timings.gate_interval_ms;
  }
  f.now = kT0 + kHour;  // a look is out and has not come back
  f.Step();
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.reason == "gate 1 (error_rate treatment): no verdict within 1h");
  f.Step({Verdict("1", GateVerdict::kPass, "too late")});  // stale now
  CHECK(f.Run(0).phase == Phase::kFailed);
}

TEST_CASE("A ping is retried with doubling backoff, then fails the flight", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"weight","arms":{"treatment":5}},
      {"action":"ping","url":"http://hooks/x?f={{name}}&s={{step}}&w={{weights}}&t={{time}}&a={{arm}}&c={{commit}}"}])"));
  f.Step();
  f.Step({RouteWritten(2)});
  auto p = f.Of(K::kPing);
  REQUIRE(p.size() == 1);
  CHECK(p[0].step == "2");
  CHECK(p[0].method == "GET");
  CHECK(p[0].url ==
        "http://hooks/x?f=checkout-v2&s=2&w=treatment%3D5&t=2026-01-01T00%3A00%3A00Z&a=treatment&c=7e7e7e7e");
  CHECK(p[0].body.empty());

  f.Step({Pinged("2", 500)});
  CHECK(f.Logged("ping", "HTTP 500"));
  CHECK(f.wake == kT0 + 2 * kSec);
  f.now = kT0 + 2 * kSec - 1;
  CHECK(f.Step().empty());
  f.now = kT0 + 2 * kSec;
  REQUIRE(f.Step().size() == 1);
  CHECK(f.effects[0].kind == K::kPing);
  f.Step({Pinged("2", 0)});
  CHECK(f.wake == kT0 + 6 * kSec);  // 2s, then 4s
  f.now = kT0 + 6 * kSec;
  f.Step();
  REQUIRE(f.Of(K::kPing).size() == 1);
  f.Step({Pinged("2", 503)});
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.reason == "ping 2 failed after 3 tries: HTTP 503");
  CHECK(DesiredRoute(f.spec, f.state).weights == std::map<std::string, uint32_t>{{"c0c0c0c0", 1000000}});
}

TEST_CASE("A POST ping renders its body; a good answer completes it", "[hub][flight]") {
  Flight f(
      MakeSpec(R"([[{"action":"ping","url":"http://h/","method":"POST","body":"{{name}} is {{status}} at {{step}}"},
                         {"action":"ping","url":"http://h/{{id}}","method":"POST"}]])"));
  f.Step();
  auto p = f.Of(K::kPing);
  REQUIRE(p.size() == 2);
  CHECK(p[0].body == "checkout-v2 is running at 1.1");
  CHECK(p[1].url == "http://h/f-1");
  json summary = json::parse(p[1].body);
  CHECK(summary["name"] == "checkout-v2");
  CHECK(summary["step"] == "1.2");
  f.Step({Pinged("1.1", 204), Pinged("1.2", 200)});
  CHECK(f.Run(0, 0).phase == Phase::kDone);
  CHECK(f.Run(0, 1).note == "HTTP 200");
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.end_status == FlightStatus::kDone);
}

TEST_CASE("A failure in a parallel group ignores the group's later outcomes", "[hub][flight]") {
  Flight f(MakeSpec(R"([[{"action":"deploy","arm":"treatment"},{"action":"ping","url":"http://h/"}]])"));
  f.Step();
  f.Step({Deployed("1.1", "treatment", false, "disk full"), Pinged("1.2", 200)});
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.Run(0, 1).phase == Phase::kFailed);
  CHECK_THAT(f.Run(0, 1).note, Contains("interrupted"));
  CHECK_FALSE(f.Logged("ping", "HTTP 200"));
}

TEST_CASE("Kill cleans up and ends killed", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"deploy","arm":"treatment"},{"action":"wait","for":"1h"}])"));
  f.Step();
  f.Step({RouteWritten(1), Deployed("1", "treatment")});
  f.now = kT0 + kMin;
  f.Step({}, "operator said so");
  CHECK(f.Logged("kill", "operator said so"));
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.end_status == FlightStatus::kKilled);
  CHECK(f.Run(1).phase == Phase::kFailed);
  CHECK(f.wake == 0);
  f.WriteRoute();
  REQUIRE(f.Of(K::kStop).size() == 1);
  f.Step({Stopped("treatment")}, "operator said so");  // the kill may be repeated
  CHECK(f.state.status == FlightStatus::kKilled);
  CHECK(f.state.reason == "killed: operator said so");
  CHECK_FALSE(f.Logged("kill", ""));  // logged once
}

TEST_CASE("A deploy still out when the cleanup starts is stopped too", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"deploy","arm":"treatment"}])"));
  f.Step();
  f.Step({RouteWritten(1)}, "stop");
  f.WriteRoute();
  REQUIRE(f.Of(K::kStop).size() == 1);
  f.Step({Deployed("1", "treatment")});  // stale: the step is not running any more
  f.Step({Stopped("treatment", false)});
  CHECK(f.Logged("error", "left running"));
  CHECK(f.state.status == FlightStatus::kKilled);
}

TEST_CASE("Passing endBy expires the flight", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"wait","for":"2h"}])", R"({"endBy":"2026-01-01T01:00:00Z"})"));
  f.Step();
  CHECK(f.wake == kT0 + kHour);
  CHECK(DesiredRoute(f.spec, f.state).flight->end_by_unix_ms() == kT0 + kHour);
  f.now = kT0 + kHour;
  f.Step({RouteWritten(1)});
  CHECK(f.state.status == FlightStatus::kCleanup);
  CHECK(f.state.end_status == FlightStatus::kExpired);
  f.WriteRoute();
  CHECK(f.state.status == FlightStatus::kExpired);
  CHECK(f.state.reason == "endBy 2026-01-01T01:00:00Z passed");
}

TEST_CASE("Promote gives the arm everything, then retires the others", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"deploy","arm":"treatment"},{"action":"deploy","arm":"other"},
                        {"action":"promote","arm":"treatment","grace":"10m"},{"action":"ping","url":"http://h/{{arm}}"}])",
                    kThreeArms));
  f.Step();
  f.Step({RouteWritten(1), Deployed("1", "treatment")});
  f.Step({Deployed("2", "other")});
  CHECK(f.state.status == FlightStatus::kPromoted);
  CHECK(f.state.promoted_arm == "treatment");
  CHECK(f.state.retire_at_unix_ms == kT0 + 10 * kMin);
  CHECK(f.Logged("promote", "treatment"));
  RouteIntent r = DesiredRoute(f.spec, f.state);
  CHECK(r.weights == std::map<std::string, uint32_t>{{"7e7e7e7e", 1000000}});
  CHECK_FALSE(r.flight.has_value());
  f.WriteRoute();
  CHECK(f.Run(2).phase == Phase::kDone);
  auto p = f.Of(K::kPing);
  REQUIRE(p.size() == 1);
  CHECK(p[0].url == "http://h/treatment");
  f.Step({Pinged("4", 200)});
  CHECK(f.state.group == 4);
  CHECK(f.Of(K::kStop).empty());  // the grace is not over
  CHECK(f.wake == kT0 + 10 * kMin);
  CHECK_FALSE(FlightFinished(f.state));

  f.now = kT0 + 10 * kMin;
  f.Step();
  std::set<std::string> stopped;
  for (const auto& e : f.Of(K::kStop)) stopped.insert(e.arm);
  CHECK(stopped == std::set<std::string>{"control", "other"});  // the control included
  f.Step({Stopped("control"), Stopped("other")});
  CHECK(f.state.retired);
  CHECK(f.state.status == FlightStatus::kPromoted);
  CHECK(f.Logged("end", "retired"));
  CHECK(FlightFinished(f.state));
  CHECK(f.state.deployed == std::set<std::string>{"treatment"});
}

TEST_CASE("Retiring waits for the end of the plan; a kill only ends the plan", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"promote","grace":"1m"},{"action":"wait","for":"1h"},{"action":"log","message":"x"}])"));
  f.Step();
  f.WriteRoute();
  CHECK(f.state.status == FlightStatus::kPromoted);
  CHECK(f.state.weights == std::map<std::string, double>{{"treatment", 100}});
  CHECK(f.state.group == 1);
  CHECK(f.wake == kT0 + kMin);
  f.now = kT0 + kMin;
  f.Step();
  CHECK(f.Of(K::kStop).empty());  // the plan is still running
  CHECK(f.wake == kT0 + kHour);
  f.now = kT0 + 2 * kMin;
  f.Step({}, "enough");
  CHECK(f.Logged("kill", "enough"));
  CHECK(f.state.status == FlightStatus::kPromoted);  // the promotion stands
  CHECK(f.state.reason == "killed: enough");
  CHECK(f.Run(1).phase == Phase::kFailed);
  CHECK(f.Run(2).phase == Phase::kPending);
  auto stops = f.Of(K::kStop);
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].arm == "control");
  CHECK(stops[0].commit == "c0c0c0c0");
  f.Step({Stopped("control")});
  CHECK(f.state.retired);
  CHECK(FlightFinished(f.state));
  CHECK(DesiredRoute(f.spec, f.state).weights == std::map<std::string, uint32_t>{{"7e7e7e7e", 1000000}});
}

TEST_CASE("Stale observations are ignored", "[hub][flight]") {
  Flight f(MakeSpec(
      R"([{"action":"deploy","arm":"treatment"},{"action":"gate","metric":"error_rate","max_increase":0.1}])"));
  f.Step();
  const FlightState before = f.state;
  f.Step({Deployed("2", "treatment"), Deployed("1", "control"), Verdict("2", GateVerdict::kFail, "no"),
          Pinged("1", 200), Stopped("treatment"), RouteWritten(0), RouteWritten(7)});
  CHECK(f.state == before);
  f.Step({Deployed("1", "treatment"), Deployed("1", "treatment")});
  CHECK(f.state.group == 1);
  f.Step({RouteWritten(1), RouteWritten(1)});
  CHECK(f.state.route_written == 1);
  CHECK(f.state.status == FlightStatus::kRunning);
}

TEST_CASE("ResumeAfterRestart re-issues outstanding effects and keeps deadlines", "[hub][flight]") {
  Flight f(MakeSpec(R"([[{"action":"wait","for":"10m"},{"action":"deploy","arm":"treatment"},
                         {"action":"gate","metric":"error_rate","max_increase":0.1}]])"));
  f.Step();
  REQUIRE(f.Of(K::kDeploy).size() == 1);
  REQUIRE(f.Of(K::kGate).size() == 1);
  f.now = kT0 + kMin;
  f.Step();
  CHECK(f.Of(K::kDeploy).empty());

  auto stored = FlightStateFromJson(json::parse(FlightStateToJson(f.state).dump()));
  REQUIRE(stored.ok());
  CHECK(*stored == f.state);
  f.state = ResumeAfterRestart(*stored);
  f.now = kT0 + 2 * kMin;
  f.Step();
  CHECK(f.Of(K::kDeploy).size() == 1);
  CHECK(f.Of(K::kGate).size() == 1);
  CHECK(f.Of(K::kWriteRoute).size() == 1);
  CHECK(f.Run(0, 2).attempts == 1);  // the lost look is tried again, not counted twice
  CHECK(f.Run(0, 0).deadline_unix_ms == kT0 + 10 * kMin);
  CHECK_FALSE(f.Logged("start", ""));
  f.now = kT0 + 10 * kMin;
  f.Step();
  CHECK(f.Run(0, 0).phase == Phase::kDone);
}

TEST_CASE("FlightState survives its JSON form", "[hub][flight]") {
  FlightState s;
  s.id = "f-9";
  s.status = FlightStatus::kCleanup;
  s.end_status = FlightStatus::kFailed;
  s.reason = "gate 4 (error_rate treatment): bad";
  s.commits = kCommits;
  s.weights = {{"treatment", 33.3333}, {"other", 0.1}};
  s.group = 3;
  StepRun done, running, failed;
  done.phase = Phase::kDone;
  done.started_unix_ms = kT0;
  done.ended_unix_ms = kT0 + 5;
  running.phase = Phase::kRunning;
  running.deadline_unix_ms = kT0 + kHour;
  running.next_unix_ms = kT0 + 10;
  running.attempts = 4;
  running.previous_p = 0.0123456789;
  running.route_version = 3;
  running.outstanding = true;
  running.note = "w";
  failed.phase = Phase::kFailed;
  s.runs = {{done}, {running, failed}, {}};
  s.deployed = {"treatment", "other"};
  s.stopping = {"other"};
  s.started_unix_ms = kT0;
  s.ended_unix_ms = kT0 + 9;
  s.route_version = 5;
  s.route_written = 4;
  s.route_outstanding = true;
  s.promoted_arm = "treatment";
  s.retire_at_unix_ms = kT0 + kHour;
  s.retired = true;
  auto back = FlightStateFromJson(json::parse(FlightStateToJson(s).dump()));
  REQUIRE(back.ok());
  CHECK(*back == s);

  CHECK_FALSE(FlightStateFromJson(json::array()).ok());
  json bad = FlightStateToJson(s);
  bad["status"] = "flying";
  bad["route_version"] = "5";
  bad["runs"][1][0]["phase"] = "sleeping";
  auto r = FlightStateFromJson(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK_THAT(r.status().message(), Contains("status: \"flying\""));
  CHECK_THAT(r.status().message(), Contains("route_version: must be an integer"));
  CHECK_THAT(r.status().message(), Contains("runs[1][0].phase"));
}

TEST_CASE("DesiredRoute weights always sum to exactly one million", "[hub][flight]") {
  FlightSpec spec = MakeSpec("[]", kThreeArms);
  FlightState s = NewFlightState(spec, "f-1", kCommits, kT0);
  const std::vector<std::map<std::string, double>> cases = {
      {},
      {{"treatment", 33.3333}, {"other", 33.3333}},
      {{"treatment", 33.33335}, {"other", 33.33335}},
      {{"treatment", 0.00001}},
      {{"treatment", 99.99999}},
      {{"treatment", 50}, {"other", 50}},
      {{"treatment", 12.3456789}, {"other", 0.0000004}},
  };
  for (const auto& w : cases) {
    s.weights = w;
    RouteIntent r = DesiredRoute(spec, s);
    const uint64_t sum = std::accumulate(r.weights.begin(), r.weights.end(), uint64_t{0},
                                         [](uint64_t a, const auto& kv) { return a + kv.second; });
    INFO(json(w).dump());
    CHECK(sum == 1000000);
  }
  s.weights = {{"treatment", 33.3333}, {"other", 33.3333}};
  RouteIntent r = DesiredRoute(spec, s);
  CHECK(r.weights.at("7e7e7e7e") == 333333);
  CHECK(r.weights.at("0404aaaa") == 333333);
  CHECK(r.weights.at("c0c0c0c0") == 333334);
  s.weights = {{"treatment", 50}, {"other", 50}};
  CHECK(DesiredRoute(spec, s).weights.count("c0c0c0c0") == 0);  // no share: not listed

  FlightSpec filtered = MakeSpec("[]", R"({"filter":{"oses":["linux"],"headers":{"X-Beta":"1"}},
                                          "randomDeploy":{"keyname":"sid","ge":0.1,"lt":0.35}})");
  RouteIntent fr = DesiredRoute(filtered, NewFlightState(filtered, "f-2", kCommits, kT0));
  REQUIRE(fr.flight.has_value());
  CHECK(fr.flight->range_key() == "sid");
  CHECK(fr.flight->range_ge() == 100000);
  CHECK(fr.flight->range_lt() == 350000);
  CHECK(fr.flight->filter().oses(0) == "linux");
  CHECK(fr.flight->filter().headers().at("x-beta") == "1");
}

TEST_CASE("StepText describes the running group", "[hub][flight]") {
  Flight f(MakeSpec(R"([[{"action":"deploy","arm":"treatment","instances":2},{"action":"ping","url":"http://h/"}]])"));
  f.Step();
  CHECK(StepText(f.spec, f.state, f.now) == "1: deploy treatment x2 + ping GET http://h/");
  CHECK(StepPosition(f.state) == "1");
}

TEST_CASE("The timeline uses the documented kinds", "[hub][flight]") {
  Flight f(MakeSpec(R"([{"action":"deploy","arm":"treatment"},{"action":"weight","arms":{"treatment":10}},
      {"action":"wait","for":"1m"},{"action":"gate","metric":"error_rate","max_increase":0.1},
      {"action":"ping","url":"http://h/"},{"action":"log","message":"m"},{"action":"wait","for":"1h"}])"));
  f.Step();
  f.Step({RouteWritten(1), Deployed("1", "treatment")});
  f.Step({RouteWritten(2)});
  f.now += kMin;
  f.Step();
  f.Step({GateError("4", "x")});
  f.now += f.timings.gate_interval_ms;
  f.Step();
  f.Step({Verdict("4", GateVerdict::kPass, "fine")});
  f.Step({Pinged("5", 200)});
  f.Step({}, "enough");
  f.WriteRoute();
  f.Step({Stopped("treatment")});
  CHECK(f.state.status == FlightStatus::kKilled);
  const std::set<std::string> documented = {"start", "step",    "weight", "wait", "gate",    "ping", "deploy",
                                            "stop",  "promote", "log",    "kill", "cleanup", "end",  "error"};
  for (const auto& k : f.kinds) {
    INFO(k);
    CHECK(documented.count(k) == 1);
  }
  CHECK(f.kinds == std::set<std::string>{"start", "step", "weight", "wait", "gate", "ping", "deploy", "stop", "log",
                                         "kill", "cleanup", "end", "error"});
}

}  // namespace
}  // namespace skyport::hub
