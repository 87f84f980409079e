// Releases (issue 16): numbering, bounds, persistence with the desired state,
// the current/previous choice, the rollback plan and the retirement rule.
#include <catch2/catch.hpp>

#include "hub/deploys/desired.h"
#include "hub/deploys/releases.h"
#include "hub/deploys/rollback_plan.h"

namespace skyport::hub {
namespace {

const std::string A(40, 'a'), B(40, 'b'), C(40, 'c'), D(40, 'd');

Release Rel(const std::string& commit, std::map<std::string, std::string> env = {}) {
  Release r;
  r.commit = commit;
  r.env = std::move(env);
  r.drones = {"d1"};
  return r;
}

// Records releases of `commits` in order, each with the given outcome.
ReleaseBook Book(const std::vector<std::pair<std::string, ReleaseOutcome>>& history) {
  ReleaseBook b;
  for (const auto& [c, o] : history) {
    uint32_t n = b.Begin("web", Rel(c));
    if (o != ReleaseOutcome::kPending) b.Finish("web", n, o, o == ReleaseOutcome::kFailed ? "boom" : "", 1000);
  }
  return b;
}

constexpr auto kOk = ReleaseOutcome::kSucceeded;
constexpr auto kFail = ReleaseOutcome::kFailed;

TEST_CASE("Releases are numbered per app from v1 and numbers are never reused", "[hub][releases]") {
  ReleaseBook b;
  CHECK(b.Begin("web", Rel(A)) == 1);
  CHECK(b.Begin("web", Rel(B)) == 2);
  CHECK(b.Begin("api", Rel(A)) == 1);
  CHECK(b.Begin("web", Rel(C)) == 3);
  const AppReleases* web = b.Find("web");
  REQUIRE(web != nullptr);
  CHECK(web->releases.size() == 3);
  CHECK(web->releases.back().outcome == ReleaseOutcome::kPending);
  CHECK(web->releases.back().who == "cluster");
  CHECK(b.Find("nope") == nullptr);
}

TEST_CASE("Finish resolves a pending release once", "[hub][releases]") {
  ReleaseBook b;
  uint32_t n = b.Begin("web", Rel(A));
  CHECK(b.Finish("web", n, kFail, "drone d1: exited 3", 500));
  CHECK_FALSE(b.Finish("web", n, kOk, "", 600));  // already resolved
  CHECK_FALSE(b.Finish("web", 99, kOk, "", 600));
  CHECK_FALSE(b.Finish("api", n, kOk, "", 600));
  const Release& r = b.Find("web")->releases.back();
  CHECK(r.outcome == kFail);
  CHECK(r.error == "drone d1: exited 3");
  CHECK(r.finished_unix_ms == 500);
}

TEST_CASE("The newest kKeepReleases are kept, the older ones counted, numbers go on", "[hub][releases]") {
  ReleaseBook b;
  for (size_t i = 0; i < kKeepReleases + 5; ++i) b.Begin("web", Rel(A));
  const AppReleases* web = b.Find("web");
  CHECK(web->releases.size() == kKeepReleases);
  CHECK(web->dropped == 5);
  CHECK(web->releases.front().number == 6);
  CHECK(b.Begin("web", Rel(B)) == kKeepReleases + 6);
}

TEST_CASE("All apps' releases stay within a byte budget; the app with the most gives first", "[hub][releases]") {
  ReleaseBook b;
  const std::map<std::string, std::string> big{{"BLOB", std::string(20'000, 'x')}};
  b.Begin("small", Rel(A));
  for (int i = 0; i < 60; ++i) b.Finish("web", b.Begin("web", Rel(A, big)), kOk, "", 1);
  for (int i = 0; i < 60; ++i) b.Begin("hung", Rel(A));  // pending: never let go
  CHECK(b.Find("small")->releases.size() == 1);
  const AppReleases* web = b.Find("web");
  CHECK(web->releases.size() < 30);
  CHECK(web->dropped == 60 - web->releases.size());
  CHECK(web->releases.back().number == 60);
  CHECK(b.ToJson().dump().size() < kMaxReleaseBookBytes + 64 * 1024);
  CHECK(b.Find("hung")->releases.size() == 60);
  uint32_t n = b.Begin("web", Rel(B));
  CHECK(b.Finish("web", n, kFail, std::string(10'000, 'e'), 1));
  CHECK(b.Find("web")->releases.back().error.size() == kMaxReleaseErrorBytes);
}

TEST_CASE("Releases ride with the desired state's JSON; pending ones come back interrupted", "[hub][releases]") {
  DesiredState s;
  uint32_t n1 = s.releases().Begin("web", Rel(A, {{"SECRET", "x"}}));
  s.releases().Finish("web", n1, kOk, "", 10);
  Release restart = Rel(B);
  restart.restart = true;
  s.releases().Begin("web", restart);  // pending when the hub stops
  REQUIRE(s.releases().AddRetirement("web", {A, 5000, 2}).ok());
  auto back = DesiredState::FromJson(s.ToJson());
  REQUIRE(back.ok());
  const AppReleases* web = back->releases().Find("web");
  REQUIRE(web != nullptr);
  REQUIRE(web->releases.size() == 2);
  CHECK(web->releases[0].outcome == kOk);
  CHECK(web->releases[0].env.at("SECRET") == "x");  // kept for a rollback's redeploy
  CHECK(web->releases[1].outcome == ReleaseOutcome::kInterrupted);
  CHECK(web->releases[1].restart);
  CHECK_FALSE(web->releases[0].restart);
  CHECK_FALSE(web->releases[1].error.empty());
  CHECK(web->retiring == std::vector<Retirement>{{A, 5000, 2}});
  CHECK(back->releases().Begin("web", Rel(C)) == 3);  // numbering goes on after a restart
}

TEST_CASE("A deployments file without releases still loads; a malformed one is refused", "[hub][releases]") {
  auto old = DesiredState::FromJson(R"({"version":1,"deployments":[]})");
  REQUIRE(old.ok());
  CHECK(old->releases().Apps().empty());
  CHECK_FALSE(DesiredState::FromJson(R"({"deployments":[],"releases":{"web":{"releases":[{"number":-1,"commit":"a"}]}}})").ok());
  CHECK_FALSE(DesiredState::FromJson(R"({"deployments":[],"releases":{"web":{"releases":[{"number":1,"commit":"a","restart":1}]}}})").ok());
  CHECK_FALSE(DesiredState::FromJson(R"({"deployments":[],"releases":{"web":{"releases":[{"number":2,"commit":"a"},{"number":1,"commit":"b"}]}}})").ok());
  CHECK_FALSE(DesiredState::FromJson(R"({"deployments":[],"releases":{"web":{"releases":[{"number":1,"commit":"a","outcome":"maybe"}]}}})").ok());
  for (const char* bad : {R"({"deployments":[],"releases":5})", R"({"deployments":[],"releases":{"web":5}})",
                          R"({"deployments":[],"releases":{"web":{"releases":[{"number":1}]}}})",
                          R"({"deployments":[],"releases":{"web":{"releases":5}}})",
                          R"({"deployments":[],"releases":{"web":{"retiring":[{"at_unix_ms":1}]}}})",
                          R"({"deployments":[],"releases":{"web":{"dropped":-2}}})"}) {
    INFO(bad);
    Result<DesiredState> r = Status::Internal("unset");
    REQUIRE_NOTHROW(r = DesiredState::FromJson(bad));
    CHECK(r.status().code() == Code::kDataLoss);
  }
  // `next` behind the numbers kept: a number is still never given twice.
  auto lag = DesiredState::FromJson(R"({"deployments":[],"releases":{"web":{"next":1,"releases":[{"number":7,"commit":"a"}]}}})");
  REQUIRE(lag.ok());
  CHECK(lag->releases().Begin("web", Rel(A)) == 8);
}

TEST_CASE("Current: the newest succeeded release the route gives weight; without a route the newest succeeded",
          "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kOk}, {C, kFail}});
  const AppReleases& web = *b.Find("web");
  CHECK(CurrentRelease(web, std::nullopt) == 2u);
  CHECK(CurrentRelease(web, std::map<std::string, uint32_t>{{A, 100}}) == 1u);
  CHECK(CurrentRelease(web, std::map<std::string, uint32_t>{{A.substr(0, 7), 100}}) == 1u);  // a prefix key
  CHECK(CurrentRelease(web, std::map<std::string, uint32_t>{{A, 90}, {B, 10}}) == 2u);  // a split: the newest
  CHECK(CurrentRelease(web, std::map<std::string, uint32_t>{{A, 0}, {B, 100}}) == 2u);
  CHECK_FALSE(CurrentRelease(web, std::map<std::string, uint32_t>{{C, 100}}));  // C never succeeded
  CHECK_FALSE(CurrentRelease(web, std::map<std::string, uint32_t>{{D, 100}}));
}

TEST_CASE("Previous: the newest succeeded release before the current one that differs from it", "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kFail}, {B, kOk}, {B, kOk}, {C, kFail}});
  const AppReleases& web = *b.Find("web");
  CHECK(PreviousRelease(web, 4) == 1u);  // v3 is the same commit, v2 failed
  CHECK_FALSE(PreviousRelease(web, 1));
  CHECK_FALSE(PreviousRelease(web, 99));
}

RollbackInputs Inputs(const AppReleases& app, RouteWeights route, uint32_t requested,
                      std::set<std::string> running) {
  RollbackInputs in;
  in.app = &app;
  in.route = std::move(route);
  in.requested = requested;
  for (const auto& c : running) in.running[c] = {};
  return in;
}

TEST_CASE("Rollback plan: the previous release's commit still runs: a flip, the current commit retires",
          "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kOk}});
  auto plan = PlanRollback("web", Inputs(*b.Find("web"), std::map<std::string, uint32_t>{{B, 100}}, 0, {A, B}));
  REQUIRE(plan.ok());
  CHECK(plan->target == 1);
  CHECK(plan->from == 2u);
  CHECK(plan->commit == A);
  CHECK_FALSE(plan->deploy);
  CHECK(plan->retire == std::set<std::string>{B});
  CHECK(plan->description == "rollback to v1");
}

TEST_CASE("Rollback plan: a stopped commit, or one running with other env, is deployed first", "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kOk}});
  auto stopped = PlanRollback("web", Inputs(*b.Find("web"), std::nullopt, 0, {B}));
  REQUIRE(stopped.ok());
  CHECK(stopped->deploy);
  CHECK(stopped->retire == std::set<std::string>{B});  // no route: the current release's commit
  auto in = Inputs(*b.Find("web"), std::nullopt, 0, {A, B});
  in.running[A] = {{"FLAG", "on"}};  // v1 ran without it
  auto other_env = PlanRollback("web", in);
  REQUIRE(other_env.ok());
  CHECK(other_env->deploy);
}

TEST_CASE("Rollback plan: every weighted commit but the target retires", "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kOk}, {C, kOk}});
  auto plan = PlanRollback(
      "web", Inputs(*b.Find("web"), std::map<std::string, uint32_t>{{B, 50}, {C, 50}}, 1, {A, B, C, D}));
  REQUIRE(plan.ok());
  CHECK(plan->retire == std::set<std::string>{B, C});  // D ran without weight: not ours to stop
}

TEST_CASE("Rollback plan: a second rollback undoes the first", "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kOk}, {A, kOk}});  // v3 = rollback to v1
  auto plan = PlanRollback("web", Inputs(*b.Find("web"), std::map<std::string, uint32_t>{{A, 100}}, 0, {A, B}));
  REQUIRE(plan.ok());
  CHECK(plan->from == 3u);
  CHECK(plan->target == 2);
}

TEST_CASE("Rollback plan refusals say why", "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kFail}, {C, kOk}});
  const AppReleases& web = *b.Find("web");
  const RouteWeights route = std::map<std::string, uint32_t>{{C, 100}};
  auto code = [](const Result<RollbackPlan>& r) { return r.status().code(); };

  auto unknown = PlanRollback("web", Inputs(web, route, 9, {A, C}));
  CHECK(code(unknown) == Code::kNotFound);
  CHECK_THAT(unknown.status().message(), Catch::Contains("no release v9"));
  auto failed = PlanRollback("web", Inputs(web, route, 2, {A, C}));
  CHECK(code(failed) == Code::kFailedPrecondition);
  CHECK_THAT(failed.status().message(), Catch::Contains("failed"));
  auto same = PlanRollback("web", Inputs(web, route, 3, {A, C}));
  CHECK_THAT(same.status().message(), Catch::Contains("already the current"));
  auto flight = Inputs(web, route, 0, {A, C});
  flight.active_flight = "canary";
  CHECK_THAT(PlanRollback("web", flight).status().message(), Catch::Contains("flight canary"));

  ReleaseBook one = Book({{A, kOk}});
  auto nothing = PlanRollback("web", Inputs(*one.Find("web"), std::nullopt, 0, {A}));
  CHECK(code(nothing) == Code::kFailedPrecondition);
  CHECK_THAT(nothing.status().message(), Catch::Contains("nothing to roll back to"));
  CHECK(code(PlanRollback("web", RollbackInputs{})) == Code::kFailedPrecondition);
  // No release gets traffic and none is named: which one would be "previous"?
  auto no_current = PlanRollback("web", Inputs(web, std::map<std::string, uint32_t>{{D, 100}}, 0, {D}));
  CHECK_THAT(no_current.status().message(), Catch::Contains("no current release"));

  ReleaseBook many;
  for (size_t i = 0; i < kKeepReleases + 3; ++i) many.Finish("web", many.Begin("web", Rel(A)), kOk, "", 1);
  auto dropped = PlanRollback("web", Inputs(*many.Find("web"), std::nullopt, 2, {A}));
  CHECK(code(dropped) == Code::kNotFound);
  CHECK_THAT(dropped.status().message(), Catch::Contains("no longer kept"));
}

TEST_CASE("A retirement stops its commit unless the route, a newer release or a flight chose it again",
          "[hub][releases]") {
  ReleaseBook b = Book({{A, kOk}, {B, kOk}, {A, kOk}});  // v3 rolled back to A: B retires
  const Retirement r{B, 1000, 3};
  CHECK(ShouldRetire(r, *b.Find("web"), std::map<std::string, uint32_t>{{A, 100}}, {}).stop);
  CHECK(ShouldRetire(r, *b.Find("web"), std::nullopt, {}).stop);
  CHECK_FALSE(ShouldRetire(r, *b.Find("web"), std::map<std::string, uint32_t>{{A, 90}, {B, 10}}, {}).stop);
  CHECK_FALSE(ShouldRetire(r, *b.Find("web"), std::nullopt, {B}).stop);
  // A config change's rolling restart of B (which still ran) is no choice of B: it still retires.
  Release restart = Rel(B);
  restart.restart = true;
  b.Finish("web", b.Begin("web", restart), kOk, "", 1);  // v4
  CHECK(ShouldRetire(r, *b.Find("web"), std::nullopt, {}).stop);
  b.Begin("web", Rel(B));  // v5 deploys B again (pending still counts)
  auto again = ShouldRetire(r, *b.Find("web"), std::nullopt, {});
  CHECK_FALSE(again.stop);
  CHECK(again.keep_reason == "v5 chose it again");
}

TEST_CASE("Retirements: one per commit (the newer replaces), bounded, due by time", "[hub][releases]") {
  ReleaseBook b;
  REQUIRE(b.AddRetirement("web", {A, 100, 2}).ok());
  REQUIRE(b.AddRetirement("web", {A, 500, 4}).ok());
  CHECK(b.Find("web")->retiring.size() == 1);
  CHECK(b.Due(499).empty());
  CHECK(b.Due(500).size() == 1);
  CHECK_FALSE(b.DropRetirement("web", A, 2));  // the older rollback's: replaced
  CHECK(b.DropRetirement("web", A, 4));
  for (size_t i = 0; i < kMaxRetirementsPerApp; ++i)
    REQUIRE(b.AddRetirement("web", {std::to_string(i), 1, 1}).ok());
  CHECK(b.AddRetirement("web", {"one-more", 1, 1}).code() == Code::kResourceExhausted);
}

}  // namespace
}  // namespace skyport::hub
