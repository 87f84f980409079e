#include <catch2/catch.hpp>

#include <string>

#include "hub/deploys/app_settings.h"
#include "hub/deploys/desired.h"
#include "hub/deploys/push_deploy.h"

namespace skyport::hub {
namespace {

const std::string kA(40, 'a');
const std::string kB(40, 'b');
const std::string kZero(40, '0');

TEST_CASE("ValidateBranch: git's ref rules, printable, bounded", "[hub]") {
  for (const char* ok : {"", "master", "main", "release/2026-12", "feature_x.y", "v1.2"}) {
    INFO(ok);
    CHECK(ValidateBranch(ok).ok());
  }
  for (const char* bad : {"-f", "/x", "x/", "a..b", "a//b", "x.lock", "a/.hidden", "x.", "a b", "a~1", "a^", "a:b",
                          "a?", "a*", "a[", "a\\b", "@", "a@{1}", "tab\tx", "nl\nx", "\x7f"}) {
    INFO(bad);
    CHECK(ValidateBranch(bad).code() == Code::kInvalidArgument);
  }
  CHECK(ValidateBranch(std::string(kMaxBranchBytes, 'x')).ok());
  CHECK_FALSE(ValidateBranch(std::string(kMaxBranchBytes + 1, 'x')).ok());
}

TEST_CASE("DeployTrigger: only a landed update of the deploy branch that does not delete it", "[hub]") {
  AppSettings on{"master"};
  CHECK_FALSE(DeployTrigger(AppSettings{}, {{"refs/heads/master", kA, true}}));
  CHECK_FALSE(DeployTrigger(on, {{"refs/heads/main", kA, true}}));
  CHECK_FALSE(DeployTrigger(on, {{"refs/heads/master", kA, false}}));  // refused (stale, non-ff, ...)
  CHECK_FALSE(DeployTrigger(on, {{"refs/heads/master", kZero, true}}));  // deleted
  CHECK_FALSE(DeployTrigger(on, {{"refs/tags/master", kA, true}}));
  CHECK_FALSE(DeployTrigger(on, {{"refs/heads/master/x", kA, true}}));
  auto t = DeployTrigger(on, {{"refs/heads/dev", kB, true}, {"refs/heads/master", kA, true}});
  REQUIRE(t);
  CHECK(t->ref == "refs/heads/master");
  CHECK(t->new_id == kA);
}

TEST_CASE("DesiredState keeps app settings through JSON and drops empty ones", "[hub]") {
  DesiredState s;
  s.SetSettings("web", AppSettings{"main"});
  s.SetSettings("api", AppSettings{"master"});
  s.SetSettings("api", AppSettings{});
  auto back = DesiredState::FromJson(s.ToJson());
  REQUIRE(back.ok());
  CHECK(back->Settings("web").deploy_on_push == "main");
  CHECK(back->Settings("api").Empty());
  CHECK(back->AllSettings().size() == 1);
  // A file without the section (written before it existed) loads with none.
  auto old = DesiredState::FromJson(R"({"version": 1, "deployments": []})");
  REQUIRE(old.ok());
  CHECK(old->AllSettings().empty());
  // A bad branch or shape is data loss, not a silently different setting.
  CHECK(DesiredState::FromJson(R"({"deployments": [], "app_settings": {"web": {"deploy_on_push": "a..b"}}})")
            .status()
            .code() == Code::kDataLoss);
  CHECK(DesiredState::FromJson(R"({"deployments": [], "app_settings": []})").status().code() == Code::kDataLoss);
  CHECK(DesiredState::FromJson(R"({"deployments": [], "app_settings": {"web": 3}})").status().code() ==
        Code::kDataLoss);
}

TEST_CASE("PushDeployRequest: where the app runs, as its newest deployment runs", "[hub]") {
  Deployment old;
  old.app = "web";
  old.commit = kA;
  old.drones = {"d1", "d2"};
  old.instances = 1;
  old.created_unix_ms = 100;
  Deployment newer = old;
  newer.commit = kB;
  newer.drones = {"d3"};
  newer.instances = 3;
  newer.env = {{"MODE", "fast"}};
  newer.created_unix_ms = 200;
  Deployment other = old;
  other.app = "api";
  other.drones = {"d9"};
  auto req = PushDeployRequest("web", std::string(40, 'c'), {old, newer, other}, {"d1", "d2", "d3", "d9"});
  CHECK(req.app() == "web");
  CHECK(req.commitish() == std::string(40, 'c'));
  REQUIRE(req.target().drones_size() == 3);
  CHECK(req.target().drones(0) == "d1");
  CHECK(req.target().drones(2) == "d3");
  CHECK(req.instances() == 3);
  CHECK(req.env().at("MODE") == "fast");
  // A drone away is left to catch up when it attaches.
  auto some = PushDeployRequest("web", kA, {old, newer}, {"d1", "d3"});
  REQUIRE(some.target().drones_size() == 2);
  CHECK(some.target().drones(0) == "d1");
  CHECK(some.target().drones(1) == "d3");
  // None of them attached: the named ones (the deploy fails saying they are not attached).
  CHECK(PushDeployRequest("web", kA, {old, newer}, {"d7"}).target().drones_size() == 3);
  // Nowhere yet: every drone (an empty target), defaults.
  auto first = PushDeployRequest("new", kA, {old}, {"d1"});
  CHECK(first.target().drones_size() == 0);
  CHECK(first.instances() == 0);
  CHECK(first.env().empty());
}

TEST_CASE("PushProgressLine: drone, stage, message", "[hub]") {
  v1::DeployProgress p;
  p.set_drone("web-1");
  p.set_stage(v1::DeployProgress::REGISTERED);
  p.set_message("port 20001");
  CHECK(PushProgressLine(p) == "web-1: registered port 20001");
  p.clear_drone();
  p.clear_message();
  p.set_stage(v1::DeployProgress::FAILED);
  CHECK(PushProgressLine(p) == "hub: failed");
}

}  // namespace
}  // namespace skyport::hub

namespace skyport::hub {
namespace {

TEST_CASE("Config history: earlier versions stay restorable, bounded, through JSON", "[hub][config]") {
  DesiredState s;
  CHECK(s.ConfigAt("web", 0).ok());  // version 0: no config
  CHECK(s.ConfigAt("web", 0)->empty());
  CHECK(s.ConfigAt("web", 1).status().code() == Code::kNotFound);
  for (int i = 1; i <= 14; ++i) s.PutConfig("web", {{"N", std::to_string(i)}}, i);
  CHECK(s.Config("web").version == 14);
  CHECK(s.ConfigAt("web", 14)->at("N") == "14");  // the current one
  CHECK(s.ConfigAt("web", 13)->at("N") == "13");
  CHECK(s.ConfigAt("web", 4)->at("N") == "4");    // 10 earlier versions kept: 4..13
  CHECK(s.ConfigAt("web", 3).status().code() == Code::kNotFound);
  auto back = DesiredState::FromJson(s.ToJson());
  REQUIRE(back.ok());
  CHECK(back->ConfigAt("web", 4)->at("N") == "4");
  CHECK(back->ConfigAt("web", 3).status().code() == Code::kNotFound);
  // The desired state's bound lets the oldest go first, of the app with the most.
  s.PutConfig("api", {{"A", "1"}}, 1);
  s.PutConfig("api", {{"A", "2"}}, 2);
  REQUIRE(s.DropOldestConfigHistory());
  CHECK(s.ConfigAt("web", 4).status().code() == Code::kNotFound);
  CHECK(s.ConfigAt("api", 1).ok());
  s.DropConfig("web");
  CHECK(s.ConfigAt("web", 13).status().code() == Code::kNotFound);
  CHECK(DesiredState::FromJson(R"({"deployments": [], "config_history": {"web": {"x": {}}}})").status().code() ==
        Code::kDataLoss);
}

}  // namespace
}  // namespace skyport::hub
