// The deploy pipeline's ordering and failure handling, with Fake… steps: no
// git, no processes, time from a FakeClock.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "drone/data_dir.h"
#include "drone/deploy_pipeline.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace skyport;
using namespace skyport::drone;

namespace {

// What happened, in order: "fetch", "checkout", "release", "start", "await", "end", "stop".
using Trace = std::vector<std::string>;

struct FakeFetcher final : CommitFetcher {
  Trace* trace;
  Status result = Status::Ok();
  FakeClock* clock = nullptr;  // advanced by `takes_ms` per fetch
  int64_t takes_ms = 0;
  Status Fetch(const std::string&, const std::string&, const DeployRun&) override {
    trace->push_back("fetch");
    if (clock) clock->AdvanceMs(takes_ms);
    return result;
  }
};

struct FakeCheckout final : CheckoutMaker {
  Trace* trace;
  std::string procfile = "web: ./serve\n";  // "": no Procfile in the commit
  Status result = Status::Ok();
  std::string last_dir;
  Status Checkout(const std::string&, const std::string&, const std::string& dir) override {
    trace->push_back("checkout");
    last_dir = dir;
    fs::create_directories(dir);
    if (!procfile.empty()) std::ofstream(dir + "/Procfile") << procfile;
    return result;
  }
};

struct FakeRelease final : ReleaseRunner {
  Trace* trace;
  Status result = Status::Ok();
  Status Release(const std::string&, const std::string&, const std::string&, const AppSpec&,
                 const std::map<std::string, std::string>&, const DeployRun&) override {
    trace->push_back("release");
    return result;
  }
};

struct FakeInstances final : InstanceStarter {
  Trace* trace;
  Status start_result = Status::Ok();
  Status await_result = Status::Ok();
  std::set<std::string> roles_started;
  std::string dir_started;
  Status Start(const DeployOrder& order, const AppSpec& spec, const std::string& dir, const ProgressFn& progress,
               std::set<InstanceKey>* started) override {
    trace->push_back("start");
    dir_started = dir;
    for (const auto& [role, rs] : spec.roles) {
      roles_started.insert(role);
      started->insert(InstanceKey{order.app, order.commit, role, 0});
      progress(DeployStage::kStarting, role);
    }
    return start_result;
  }
  Status AwaitReady(const std::set<InstanceKey>&, const DeployRun&, const ProgressFn&) override {
    trace->push_back("await");
    return await_result;
  }
  void EndDeploy(const std::set<InstanceKey>& started) override {
    trace->push_back("end:" + std::to_string(started.size()));
  }
  void StopDeployment(const std::string&, const std::string&) override { trace->push_back("stop"); }
  // A redeploy of a running commit (the rolling restart of a config change).
  bool runs = false;
  Status roll_result = Status::Ok();
  bool Runs(const std::string&, const std::string&) override { return runs; }
  Status Roll(const DeployOrder& order, const AppSpec&, const std::string&, const DeployRun&, const ProgressFn&,
              std::set<InstanceKey>* started) override {
    if (!runs) return Status::Ok();
    trace->push_back("roll");
    started->insert(InstanceKey{order.app, order.commit, "web", 1});
    return roll_result;
  }
  void StopStarted(const std::set<InstanceKey>& started) override {
    trace->push_back("stop-started:" + std::to_string(started.size()));
  }
};

const std::string kCommit = "74336bc1db98aa0b4c7ad1f0d3ea1b2c3d4e5f60";

struct Rig {
  testing::TempDir data;
  Trace trace;
  FakeClock clock;
  FakeRandom random;
  FakeFetcher fetcher;
  FakeCheckout checkout;
  FakeRelease release;
  FakeInstances instances;
  std::vector<std::pair<DeployStage, std::string>> progress;
  PipelineOptions options;

  Rig() {
    fetcher.trace = checkout.trace = release.trace = instances.trace = &trace;
    options.data_dir = data.path();
  }
  std::string dir() const { return DeployDir(data.path(), "webapp", kCommit); }
  Status Run(int64_t budget_ms = 60'000, bool cancelled = false) {
    DeployPipeline pipeline(options, fetcher, checkout, release, instances, random);
    DeployRun run = DeployRun::Begin(clock, budget_ms);
    run.cancel = std::make_shared<std::atomic<bool>>(cancelled);
    DeployOrder order{"webapp", kCommit, 2, {}};
    return pipeline.Run(order, run, [&](DeployStage s, const std::string& m) { progress.emplace_back(s, m); });
  }
  std::vector<DeployStage> stages() const {
    std::vector<DeployStage> out;
    for (const auto& [s, m] : progress) out.push_back(s);
    return out;
  }
  // Nothing half-made under DATA/deploy/webapp.
  bool NoTempDirs() const {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data.path() + "/deploy/webapp", ec))
      if (e.path().filename().string().starts_with(".tmp-")) return false;
    return true;
  }
};

using S = DeployStage;

}  // namespace

TEST_CASE("deploy pipeline: a fresh commit is fetched, checked out, built, renamed, started, awaited", "[drone]") {
  Rig rig;
  rig.checkout.procfile = "web: ./serve\nworker: ./work\nrelease: make\n";
  REQUIRE(rig.Run().ok());
  CHECK(rig.trace == Trace{"fetch", "checkout", "release", "start", "await", "end:2"});
  CHECK(rig.stages() == std::vector<S>{S::kFetching, S::kCheckedOut, S::kBuilding, S::kStarting, S::kStarting});
  CHECK(rig.progress[2].second == "running the release step: make");
  CHECK(rig.instances.roles_started == std::set<std::string>{"web", "worker"});
  // The checkout was made in a temp dir beside the final one, then renamed.
  CHECK(fs::path(rig.checkout.last_dir).parent_path() == fs::path(rig.dir()).parent_path());
  CHECK(fs::path(rig.checkout.last_dir).filename().string().starts_with(".tmp-74336bc1db98-"));
  CHECK(rig.instances.dir_started == rig.dir());
  CHECK(fs::is_directory(rig.dir()));
  CHECK(rig.NoTempDirs());
}

TEST_CASE("deploy pipeline: no release step, no BUILDING", "[drone]") {
  Rig rig;
  REQUIRE(rig.Run().ok());
  CHECK(rig.trace == Trace{"fetch", "checkout", "start", "await", "end:1"});
  CHECK(rig.stages() == std::vector<S>{S::kFetching, S::kCheckedOut, S::kStarting});
}

TEST_CASE("deploy pipeline: a commit already checked out is neither fetched nor checked out again", "[drone]") {
  Rig rig;
  fs::create_directories(rig.dir());
  std::ofstream(rig.dir() + "/Procfile") << "web: ./serve\n";
  REQUIRE(rig.Run().ok());
  CHECK(rig.trace == Trace{"start", "await", "end:1"});
  REQUIRE_FALSE(rig.progress.empty());
  CHECK(rig.progress[0] == std::pair<S, std::string>{S::kCheckedOut, "already checked out"});
}

TEST_CASE("deploy pipeline: a failed step stops the rest and leaves nothing half-made", "[drone]") {
  struct Case {
    const char* name;
    void (*arrange)(Rig&);
    Trace trace;
    Code code;
  };
  const std::vector<Case> cases = {
      {"fetch", [](Rig& r) { r.fetcher.result = Status::Unavailable("hub away"); },
       {"fetch", "end:0", "stop"}, Code::kUnavailable},
      {"checkout", [](Rig& r) { r.checkout.result = Status::Internal("bad tree"); },
       {"fetch", "checkout", "end:0", "stop"}, Code::kInternal},
      {"no Procfile", [](Rig& r) { r.checkout.procfile = ""; },
       {"fetch", "checkout", "end:0", "stop"}, Code::kFailedPrecondition},
      {"bad Procfile", [](Rig& r) { r.checkout.procfile = "no colon here\n"; },
       {"fetch", "checkout", "end:0", "stop"}, Code::kInvalidArgument},
      {"release", [](Rig& r) {
         r.checkout.procfile = "web: ./serve\nrelease: make\n";
         r.release.result = Status::FailedPrecondition("release step `make` exited with 2");
       },
       {"fetch", "checkout", "release", "end:0", "stop"}, Code::kFailedPrecondition},
      {"start", [](Rig& r) { r.instances.start_result = Status::ResourceExhausted("no port"); },
       {"fetch", "checkout", "start", "end:1", "stop"}, Code::kResourceExhausted},
      {"await", [](Rig& r) { r.instances.await_result = Status::FailedPrecondition("web.0 failed to start"); },
       {"fetch", "checkout", "start", "await", "end:1", "stop"}, Code::kFailedPrecondition},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Rig rig;
      c.arrange(rig);
      Status s = rig.Run();
      CHECK(s.code() == c.code);
      CHECK(rig.trace == c.trace);
      REQUIRE_FALSE(rig.progress.empty());
      CHECK(rig.progress.back() == std::pair<S, std::string>{S::kFailed, s.message()});
      CHECK_FALSE(fs::exists(rig.dir()));  // made by this deploy: removed
      CHECK(rig.NoTempDirs());
    }
  }
}

TEST_CASE("deploy pipeline: a failure keeps a checkout this deploy did not make", "[drone]") {
  Rig rig;
  fs::create_directories(rig.dir());
  std::ofstream(rig.dir() + "/Procfile") << "web: ./serve\n";
  rig.instances.await_result = Status::DeadlineExceeded("instances not ready and registered in time");
  CHECK(rig.Run().code() == Code::kDeadlineExceeded);
  CHECK(rig.trace == Trace{"start", "await", "end:1", "stop"});
  CHECK(fs::is_directory(rig.dir()));
}

TEST_CASE("deploy pipeline: nothing starts once cancelled or past the deadline", "[drone]") {
  SECTION("a stop came during the fetch") {
    Rig rig;
    CHECK(rig.Run(60'000, /*cancelled=*/true).code() == Code::kAborted);
    CHECK(rig.trace == Trace{"fetch", "checkout", "end:0", "stop"});
    CHECK_FALSE(fs::exists(rig.dir()));
  }
  SECTION("the fetch took the whole budget") {
    Rig rig;
    rig.fetcher.clock = &rig.clock;
    rig.fetcher.takes_ms = 5'000;
    Status s = rig.Run(5'000);
    CHECK(s.code() == Code::kDeadlineExceeded);
    CHECK(s.message() == "the deploy's deadline (5 s) passed before the start");
    CHECK(rig.trace == Trace{"fetch", "checkout", "end:0", "stop"});
  }
  SECTION("one millisecond left is enough") {
    Rig rig;
    rig.fetcher.clock = &rig.clock;
    rig.fetcher.takes_ms = 4'999;
    CHECK(rig.Run(5'000).ok());
  }
}

TEST_CASE("deploy pipeline: a run's budget defaults for an older hub", "[drone]") {
  FakeClock clock;
  DeployRun run = DeployRun::Begin(clock, 0);
  CHECK(run.budget_ms == kDefaultDeployBudgetMs);
  CHECK(run.left() == kDefaultDeployBudgetMs);
  clock.AdvanceMs(1'000);
  CHECK(run.left() == kDefaultDeployBudgetMs - 1'000);
  CHECK_FALSE(run.cancelled());
}

TEST_CASE("deploy pipeline: a fixed command needs no Procfile", "[drone]") {
  Rig rig;
  rig.options.fixed_command = "./run-me";
  rig.options.fixed_role = "api";
  rig.checkout.procfile = "";
  REQUIRE(rig.Run().ok());
  CHECK(rig.instances.roles_started == std::set<std::string>{"api"});
}

TEST_CASE("deploy pipeline: a redeploy of a running commit rolls its instances after the start", "[drone][rolling]") {
  Rig rig;
  fs::create_directories(rig.dir());
  std::ofstream(rig.dir() + "/Procfile") << "web: ./serve\n";
  rig.instances.runs = true;
  REQUIRE(rig.Run().ok());
  CHECK(rig.trace == Trace{"start", "await", "roll", "end:2"});
}

TEST_CASE("deploy pipeline: a failed roll stops only what it started; what ran keeps running", "[drone][rolling]") {
  Rig rig;
  fs::create_directories(rig.dir());
  std::ofstream(rig.dir() + "/Procfile") << "web: ./serve\n";
  rig.instances.runs = true;
  rig.instances.roll_result = Status::Aborted("web.1 exited with code 1");
  Status s = rig.Run();
  CHECK(s.code() == Code::kAborted);
  // No StopDeployment: the instances that ran before the deploy stay.
  CHECK(rig.trace == Trace{"start", "await", "roll", "stop-started:2", "end:2"});
  CHECK(fs::is_directory(rig.dir()));
  REQUIRE_FALSE(rig.progress.empty());
  CHECK(rig.progress.back().first == S::kFailed);
}
