#include <catch2/catch.hpp>

#include "hub/deploys/reconcile.h"

namespace skyport::hub {
namespace {

using AppCommit = std::pair<std::string, std::string>;

Deployment Want(std::string app, std::string commit, uint32_t instances = 1) {
  Deployment d;
  d.app = std::move(app);
  d.commit = std::move(commit);
  d.instances = instances;
  d.drones = {"d1"};
  return d;
}

v1::ProcessStatus Proc(const std::string& app, const std::string& commit, const std::string& role, uint32_t instance,
                       const std::string& state) {
  v1::ProcessStatus p;
  p.set_app(app);
  p.set_commit(commit);
  p.set_role(role);
  p.set_instance(instance);
  p.set_state(state);
  p.set_drone("d1");
  return p;
}

std::vector<AppCommit> Started(const ReconcilePlan& plan) {
  std::vector<AppCommit> out;
  for (const auto& d : plan.start) out.emplace_back(d.app, d.commit);
  return out;
}

TEST_CASE("Reconcile: one desired deployment against what the drone runs", "[hub][reconcile]") {
  struct Row {
    const char* name;
    uint32_t instances;
    std::vector<v1::ProcessStatus> running;
    bool want_start;
  };
  const Row rows[] = {
      {"nothing runs", 1, {}, true},
      {"all run", 1, {Proc("web", "c1", "web", 0, "running")}, false},
      {"all roles run", 1, {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "worker", 0, "running")}, false},
      {"starting counts as live", 1, {Proc("web", "c1", "web", 0, "starting")}, false},
      {"backoff counts as live (the drone restarts it)", 1, {Proc("web", "c1", "web", 0, "backoff")}, false},
      {"a process failed for good", 1, {Proc("web", "c1", "web", 0, "failed")}, true},
      {"one of two roles failed", 1,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "worker", 0, "failed")}, true},
      {"one of two instances failed", 2,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "failed")}, true},
      {"only stopped processes: as if nothing runs", 1, {Proc("web", "c1", "web", 0, "stopped")}, true},
      {"a stopped one beside a running one is ignored", 1,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "stopped")}, false},
      {"a role short of instances", 3,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "running")}, true},
      {"a role short because one is stopped", 2,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "stopped")}, true},
      {"one role full, another short", 2,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "running"),
        Proc("web", "c1", "worker", 0, "running")},
       true},
      {"every role at its instances", 2,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "running"),
        Proc("web", "c1", "worker", 0, "running"), Proc("web", "c1", "worker", 1, "starting")},
       false},
      {"more than instances is not a start", 1,
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "running")}, false},
      {"only another commit runs", 1, {Proc("web", "c0", "web", 0, "running")}, true},
      {"only another app runs", 1, {Proc("api", "c1", "web", 0, "running")}, true},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    auto plan = Reconcile({Want("web", "c1", r.instances)}, r.running);
    if (r.want_start) {
      REQUIRE(plan.start.size() == 1);
      CHECK(plan.start[0] == Want("web", "c1", r.instances));  // the whole deployment is sent
    } else {
      CHECK(plan.start.empty());
    }
  }
}

TEST_CASE("Reconcile: stops a running (app, commit) that is not desired", "[hub][reconcile]") {
  struct Row {
    const char* name;
    std::vector<Deployment> desired;
    std::vector<v1::ProcessStatus> running;
    std::vector<AppCommit> want_stop;  // sorted
  };
  const Row rows[] = {
      {"nothing desired, nothing runs", {}, {}, {}},
      {"nothing desired, one runs", {}, {Proc("web", "c1", "web", 0, "running")}, {{"web", "c1"}}},
      {"stopped once per (app, commit), not per process",
       {},
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c1", "web", 1, "running"),
        Proc("web", "c1", "worker", 0, "backoff")},
       {{"web", "c1"}}},
      {"an old commit after a new deploy",
       {Want("web", "c2")},
       {Proc("web", "c1", "web", 0, "running"), Proc("web", "c2", "web", 0, "running")},
       {{"web", "c1"}}},
      {"a failed undesired one is stopped too", {}, {Proc("web", "c1", "web", 0, "failed")}, {{"web", "c1"}}},
      {"stopped processes are left alone", {}, {Proc("web", "c1", "web", 0, "stopped")}, {}},
      {"desired and running: no stop", {Want("web", "c1")}, {Proc("web", "c1", "web", 0, "running")}, {}},
      {"same commit, other app",
       {Want("web", "c1")},
       {Proc("web", "c1", "web", 0, "running"), Proc("api", "c1", "web", 0, "running")},
       {{"api", "c1"}}},
      {"several, sorted",
       {},
       {Proc("zed", "c9", "web", 0, "running"), Proc("api", "c2", "web", 0, "starting"),
        Proc("api", "c1", "web", 0, "running")},
       {{"api", "c1"}, {"api", "c2"}, {"zed", "c9"}}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    auto plan = Reconcile(r.desired, r.running);
    CHECK(plan.stop == r.want_stop);
  }
}

TEST_CASE("Reconcile: several apps at once", "[hub][reconcile]") {
  std::vector<Deployment> desired = {Want("api", "a1"), Want("web", "w2", 2), Want("jobs", "j1"),
                                     Want("cron", "k1")};
  std::vector<v1::ProcessStatus> running = {
      Proc("api", "a1", "web", 0, "running"),                                           // fine
      Proc("web", "w2", "web", 0, "running"),                                           // short of 2
      Proc("web", "w1", "web", 0, "running"), Proc("web", "w1", "web", 1, "running"),  // old: stop
      Proc("jobs", "j1", "worker", 0, "failed"),                                        // failed: start
      Proc("old", "o1", "web", 0, "stopped"),                                           // ignored
      // cron: nothing runs -> start
  };
  auto plan = Reconcile(desired, running);
  CHECK(Started(plan) == std::vector<AppCommit>{{"web", "w2"}, {"jobs", "j1"}, {"cron", "k1"}});
  CHECK(plan.stop == std::vector<AppCommit>{{"web", "w1"}});
}

TEST_CASE("Reconcile: empty inputs give an empty plan", "[hub][reconcile]") {
  auto plan = Reconcile({}, {});
  CHECK(plan.start.empty());
  CHECK(plan.stop.empty());
}

}  // namespace
}  // namespace skyport::hub

namespace skyport::hub {
namespace {

TEST_CASE("Reconcile: a drone that missed a config change gets the deployment again", "[hub][reconcile][config]") {
  auto p = Proc("web", "abc1", "web", 0, "running");
  p.set_config_version(2);
  // Same version: nothing to do; an app missing from the map is at version 0.
  CHECK(Reconcile({Want("web", "abc1")}, {p}, {{"web", 2}}).start.empty());
  CHECK(Started(Reconcile({Want("web", "abc1")}, {p}, {})) == std::vector<AppCommit>{{"web", "abc1"}});
  // An older (or newer: the hub's state was restored) version: started again (the drone rolls it).
  CHECK(Started(Reconcile({Want("web", "abc1")}, {p}, {{"web", 3}})) == std::vector<AppCommit>{{"web", "abc1"}});
  // Processes of drones from before config vars report 0: equal to an app never configured.
  CHECK(Reconcile({Want("web", "abc1")}, {Proc("web", "abc1", "web", 0, "running")}, {}).start.empty());
  // Another app's config does not matter.
  CHECK(Reconcile({Want("web", "abc1")}, {Proc("web", "abc1", "web", 0, "running")}, {{"api", 4}}).start.empty());
}

}  // namespace
}  // namespace skyport::hub
