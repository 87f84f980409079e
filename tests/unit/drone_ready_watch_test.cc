// When a deploy's instances count as ready and registered: looks fed by
// hand, time as a number.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "drone/ready_watch.h"

using namespace skyport;
using namespace skyport::drone;

namespace {

const InstanceKey kWeb{"webapp", "abc123", "web", 0};
const InstanceKey kWorker{"webapp", "abc123", "worker", 0};

ProcStatus Proc(const InstanceKey& key, ProcState state, bool settled = false, uint32_t restarts = 0) {
  ProcStatus p;
  p.key = key;
  p.state = state;
  p.settled = settled;
  p.restarts = restarts;
  p.pid = 42;
  p.port = key.role == "web" ? 4001 : 0;
  return p;
}

struct Rig {
  FakeClock clock{0};
  DeployRun run = DeployRun::Begin(clock, 60'000);
  std::vector<std::string> progress;
  ProgressFn fn = [this](DeployStage s, const std::string& m) {
    progress.push_back(std::string(s == DeployStage::kHealthy ? "HEALTHY " : "REGISTERED ") + m);
  };
  ReadyWatch watch{{kWeb, kWorker}, {kWeb, kWorker}, /*ready_timeout_ms=*/30'000, /*min_uptime_ms=*/3'000, 0};
  Rig() { run.cancel = std::make_shared<std::atomic<bool>>(false); }
  ReadyWatch::Look See(const ProcStatus& p, bool registered = false) {
    return watch.See(p.key, &p, p.port != 0, registered, fn, "10.0.0.5");
  }
};

}  // namespace

TEST_CASE("ready watch: healthy, then registered once settled and in the registry", "[drone]") {
  Rig rig;
  CHECK(rig.See(Proc(kWeb, ProcState::kStarting)).next == ReadyWatch::Next::kWait);
  CHECK(rig.See(Proc(kWorker, ProcState::kReady)).next == ReadyWatch::Next::kWait);
  CHECK_FALSE(rig.watch.Verdict(0, rig.run));
  rig.See(Proc(kWeb, ProcState::kReady));
  rig.See(Proc(kWeb, ProcState::kReady, /*settled=*/true));  // settled, not yet in the registry
  rig.See(Proc(kWorker, ProcState::kReady, /*settled=*/true));
  CHECK_FALSE(rig.watch.Verdict(100, rig.run));
  rig.See(Proc(kWeb, ProcState::kReady, true), /*registered=*/true);
  rig.See(Proc(kWeb, ProcState::kReady, true), true);  // said once
  REQUIRE(rig.watch.Verdict(200, rig.run));
  CHECK(rig.watch.Verdict(200, rig.run)->ok());
  CHECK(rig.progress == std::vector<std::string>{
                            "HEALTHY webapp@abc123/worker.0 is ready (pid 42)",
                            "HEALTHY webapp@abc123/web.0 is ready (pid 42)",
                            "REGISTERED webapp@abc123/worker.0 running (worker, not registered)",
                            "REGISTERED webapp@abc123/web.0 registered on 10.0.0.5:4001",
                        });
}

TEST_CASE("ready watch: what fails the deploy", "[drone]") {
  struct Row {
    const char* name;
    ProcStatus status;
    bool ready_before;  // seen ready in an earlier look
    const char* error;
  };
  ProcStatus crashed = Proc(kWeb, ProcState::kBackoff);
  crashed.last_error = "exited with code 3";
  crashed.last_run_ms = 1'500;
  ProcStatus not_ready = crashed;
  not_ready.last_error = "not ready on port 4001 after 30s";
  ProcStatus gave_up = Proc(kWeb, ProcState::kFailed);
  gave_up.last_error = "exited with code 1";
  ProcStatus restarted = Proc(kWeb, ProcState::kStarting, false, /*restarts=*/1);
  restarted.last_error = "killed by signal 9";
  const Row rows[] = {
      {"a crash", crashed, false, "webapp@abc123/web.0 failed to start: exited with code 3 after 1.5s"},
      {"a crash after ready", crashed, true,
       "webapp@abc123/web.0 failed to start: exited with code 3 after 1.5s (an instance must stay up 3s once ready)"},
      {"not ready", not_ready, false, "webapp@abc123/web.0 failed to start: not ready on port 4001 after 30s"},
      {"gave up", gave_up, false, "webapp@abc123/web.0 failed to start: exited with code 1"},
      {"a restart the poll missed", restarted, false, "webapp@abc123/web.0 failed to start: killed by signal 9"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    Rig rig;
    if (r.ready_before) rig.See(Proc(kWeb, ProcState::kReady));
    auto look = rig.See(r.status);
    CHECK(look.next == ReadyWatch::Next::kFail);
    CHECK(look.error.code() == Code::kFailedPrecondition);
    CHECK(look.error.message() == r.error);
  }
  SECTION("stopped meanwhile") {
    Rig rig;
    auto look = rig.watch.See(kWeb, nullptr, true, false, rig.fn, "h");
    CHECK(look.next == ReadyWatch::Next::kFail);
    CHECK(look.error.message() == "webapp@abc123/web.0 was stopped during the deploy");
  }
}

TEST_CASE("ready watch: an instance already running may have restarted before", "[drone]") {
  Rig rig;
  ReadyWatch watch({kWeb}, /*fresh=*/{}, 30'000, 0, 0);
  auto p = Proc(kWeb, ProcState::kReady, true, /*restarts=*/4);
  CHECK(watch.See(kWeb, &p, true, true, rig.fn, "h").next == ReadyWatch::Next::kWait);
  CHECK(watch.Verdict(0, rig.run)->ok());
}

TEST_CASE("ready watch: a port clash is moved, and the move restarts the clock", "[drone]") {
  Rig rig;
  auto clash = Proc(kWeb, ProcState::kFailed);
  clash.port_clash = true;
  rig.See(Proc(kWeb, ProcState::kReady));
  CHECK(rig.See(clash).next == ReadyWatch::Next::kMoveOffClash);
  rig.watch.Moved(kWeb, 40'000);
  CHECK_FALSE(rig.watch.Verdict(40'000 + 30'000 + 3'000 + 10'000, rig.run));
  REQUIRE(rig.watch.Verdict(83'001, rig.run));
  CHECK(rig.watch.Verdict(83'001, rig.run)->code() == Code::kDeadlineExceeded);
  // Fresh again: a restart of the moved instance fails the deploy; healthy again from scratch.
  CHECK(rig.See(Proc(kWeb, ProcState::kStarting, false, 1)).next == ReadyWatch::Next::kFail);
}

TEST_CASE("ready watch: the deploy gives up on time, budget or stop", "[drone]") {
  SECTION("the watch's own deadline: ready timeout + min uptime + 10 s") {
    Rig rig;
    rig.run = DeployRun::Begin(rig.clock, 600'000);
    CHECK_FALSE(rig.watch.Verdict(43'000, rig.run));
    auto v = rig.watch.Verdict(43'001, rig.run);
    REQUIRE(v);
    CHECK(v->message() == "instances not ready and registered in time");
  }
  SECTION("a stop") {
    Rig rig;
    rig.run.cancel->store(true);
    CHECK(rig.watch.Verdict(0, rig.run)->code() == Code::kAborted);
  }
  SECTION("the deploy's budget") {
    Rig rig;
    rig.clock.AdvanceMs(60'000);
    auto v = rig.watch.Verdict(0, rig.run);
    REQUIRE(v);
    CHECK(v->code() == Code::kDeadlineExceeded);
    CHECK(v->message().starts_with("the deploy's deadline (60 s: hub --deploy-timeout or deploy --timeout)"));
  }
}

namespace {

skyport::drone::LogLine Line(const skyport::drone::InstanceKey& k, const char* stream, std::string text) {
  skyport::drone::LogLine l;
  l.key = k;
  l.stream = stream;
  l.text = std::move(text);
  return l;
}

}  // namespace

TEST_CASE("WithStderrTail: the failed instance's last stderr lines, bounded", "[drone]") {
  using namespace skyport::drone;
  InstanceKey k{"web", std::string(40, 'a'), "web", 0};
  InstanceKey other = k;
  other.instance = 1;
  const skyport::Status failed = skyport::Status::FailedPrecondition("web.0 failed to start: exited with 1");
  CHECK(WithStderrTail(failed, k, {}).message() == failed.message());
  std::vector<LogLine> lines{Line(k, "stdout", "listening"), Line(other, "stderr", "not mine"),
                             Line(k, "stderr", "Traceback (most recent call last):"),
                             Line(k, "stderr", "KeyError: 'DATABASE_URL'")};
  auto s = WithStderrTail(failed, k, lines);
  CHECK(s.code() == skyport::Code::kFailedPrecondition);
  CHECK(s.message() == failed.message() +
                           "\nthe last lines of its stderr:\n  Traceback (most recent call last):\n  KeyError: "
                           "'DATABASE_URL'");
  for (int i = 0; i < 30; ++i) lines.push_back(Line(k, "stderr", "line " + std::to_string(i) + std::string(400, 'x')));
  s = WithStderrTail(failed, k, lines);
  CHECK_THAT(s.message(), !Catch::Contains("line 19x") && Catch::Contains("line 20x") && Catch::Contains("line 29x"));
  CHECK(s.message().size() < failed.message().size() + 40 + kStderrTailLines * (kStderrTailChars + 8));
}
