// The supervisor's per-instance state machine stepped by hand: a Fake
// InstanceIO stands for the processes, and time is a number.
#include <signal.h>

#include <deque>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "drone/instance_machine.h"

using namespace skyport;
using namespace skyport::drone;

namespace {

constexpr int Exited(int code) { return code << 8; }

// What the machine did to the world, in order: "spawn", "TERM", "KILL",
// "probe", "drop"; and every status it reported.
struct FakeInstanceIO final : InstanceIO {
  std::vector<std::string> did;
  std::vector<ProcStatus> reports;
  bool group_gone = true;
  Status spawn_error = Status::Ok();
  int64_t next_pid = 100;
  std::deque<ProbeResult> probe_results;  // answered at once, in order; empty: pending
  bool probe_open = false;
  ListenerCheck listener = ListenerCheck::kOurs;
  std::string stranger = "port 4001 is held by pid 7 (nc)";

  bool GroupGone() override { return group_gone; }
  void Signal(int sig) override { did.push_back(sig == SIGKILL ? "KILL" : sig == SIGTERM ? "TERM" : "?"); }
  Result<int64_t> Spawn() override {
    did.push_back("spawn");
    if (!spawn_error.ok()) return spawn_error;
    group_gone = false;
    return next_pid++;
  }
  void BeginProbe() override {
    did.push_back("probe");
    probe_open = true;
  }
  void DropProbe() override {
    if (probe_open) did.push_back("drop");
    probe_open = false;
  }
  std::optional<ProbeResult> TakeProbeResult() override {
    if (!probe_open || probe_results.empty()) return std::nullopt;
    probe_open = false;
    ProbeResult r = probe_results.front();
    probe_results.pop_front();
    return r;
  }
  ListenerCheck CheckListener(std::string* who) override {
    if (listener == ListenerCheck::kStranger) *who = stranger;
    return listener;
  }
  void Report(const ProcStatus& st) override { reports.push_back(st); }
  int64_t Pgid() const override { return 100; }

  // What it did since the last call.
  std::vector<std::string> Took() {
    auto out = did;
    did.clear();
    return out;
  }
};

using Did = std::vector<std::string>;

InstancePolicy Policy(int max_quick = 0) {
  InstancePolicy p;
  p.restart.backoff = {100, 1'000, 2.0, 0.0};  // no jitter: exact delays
  p.restart.stable_after_ms = 10'000;
  p.restart.crash_loop_after = 3;
  p.restart.max_quick_restarts = max_quick;
  p.stable_after_ms = 10'000;
  p.term_timeout_ms = 5'000;
  return p;
}

ProcessSpec Web(uint32_t port = 4001) {
  ProcessSpec s;
  s.key = {"webapp", "abc123", port ? "web" : "worker", 0};
  s.command = "./serve";
  s.port = port;
  s.ready_timeout_ms = 3'000;
  s.min_uptime_ms = 500;
  return s;
}

// One instance and its world; `t` is the monotonic time in ms.
struct Rig {
  ProcessSpec spec;
  InstancePolicy policy;
  FakeInstanceIO io;
  FakeRandom random;
  FakeClock clock{0, 1'780'000'000'000};
  int64_t t = 1'000;
  InstanceMachine m;

  explicit Rig(ProcessSpec s = Web(), InstancePolicy p = Policy())
      : spec(std::move(s)), policy(p), m(spec, policy, io, random, clock, t) {}
  bool At(int64_t now) {
    t = now;
    return m.Advance(now);
  }
  // Spawns at `now` (one step), then probes (the next step).
  void SpawnAndProbe(int64_t now) {
    At(now);
    At(now);
  }
  // Spawned at t and answered the first probe: ready.
  void StartReady() {
    io.probe_results.push_back({true, ""});
    SpawnAndProbe(t);
    REQUIRE(m.status().state == ProcState::kReady);
    io.Took();
  }
  ProcState state() const { return m.status().state; }
};

}  // namespace

TEST_CASE("instance machine: a worker runs at once and is ready and settled", "[drone]") {
  Rig rig(Web(0), Policy());
  rig.spec.min_uptime_ms = 0;
  CHECK_FALSE(rig.At(1'000));
  CHECK(rig.io.Took() == Did{"spawn"});
  CHECK(rig.state() == ProcState::kReady);
  CHECK(rig.m.status().settled);
  CHECK(rig.m.status().pid == 100);
  CHECK(rig.m.status().restarts == 0);
  CHECK(rig.m.status().started_unix_ms == rig.clock.WallMs());
  REQUIRE(rig.io.reports.size() == 1);
}

TEST_CASE("instance machine: a web instance is probed until it answers, then settles after min uptime", "[drone]") {
  Rig rig;
  rig.io.probe_results.push_back({false, "connect: Connection refused"});
  rig.At(1'000);
  CHECK(rig.io.Took() == Did{"spawn"});
  CHECK(rig.state() == ProcState::kStarting);
  rig.At(1'000);
  CHECK(rig.io.Took() == Did{"probe"});
  CHECK(rig.m.NextWake(1'000'000) == 1'000 + InstanceMachine::kProbeIntervalMs);
  rig.At(1'010);
  CHECK(rig.io.Took().empty());  // the next attempt waits its interval
  rig.At(1'020);
  CHECK(rig.io.Took() == Did{"probe"});
  CHECK(rig.state() == ProcState::kStarting);  // pending
  rig.io.probe_results.push_back({true, ""});
  rig.m.OnProbeEvent(1'030);
  CHECK(rig.state() == ProcState::kReady);
  CHECK_FALSE(rig.m.status().settled);
  CHECK(rig.m.NextWake(1'000'000) == 1'530);
  rig.At(1'529);
  CHECK_FALSE(rig.m.status().settled);
  rig.At(1'530);
  CHECK(rig.m.status().settled);
  CHECK(rig.io.reports.back().settled);
}

TEST_CASE("instance machine: an attempt that hangs is dropped after its own timeout", "[drone]") {
  Rig rig;
  rig.SpawnAndProbe(1'000);
  CHECK(rig.io.Took() == Did{"spawn", "probe"});
  rig.At(1'000 + InstanceMachine::kProbeAttemptMs);
  CHECK(rig.io.Took() == Did{"drop"});
  rig.At(1'000 + InstanceMachine::kProbeAttemptMs + InstanceMachine::kProbeIntervalMs);
  CHECK(rig.io.Took() == Did{"probe"});
}

TEST_CASE("instance machine: not ready in time is killed and restarted with the probe's last word", "[drone]") {
  Rig rig;
  rig.io.probe_results.push_back({false, "answered 500"});
  rig.SpawnAndProbe(1'000);
  rig.io.Took();
  rig.At(4'000);  // started + ready_timeout_ms
  CHECK(rig.io.Took() == Did{"KILL"});
  rig.io.group_gone = true;
  rig.m.OnExit(4'010, SIGKILL);
  CHECK(rig.state() == ProcState::kBackoff);
  CHECK(rig.m.status().last_error == "not ready on port 4001 after 3s (last probe: answered 500)");
  CHECK(rig.m.status().next_restart_unix_ms == rig.clock.WallMs() + 100);
  CHECK(rig.m.NextWake(1'000'000) == 4'110);
}

TEST_CASE("instance machine: a crash restarts after the backoff; the old group goes first", "[drone]") {
  Rig rig;
  rig.StartReady();
  rig.io.group_gone = false;  // a child of the app lives on
  rig.m.OnExit(1'200, Exited(3));
  CHECK(rig.io.Took() == Did{"TERM"});
  CHECK(rig.state() == ProcState::kBackoff);
  CHECK(rig.m.status().pid == 0);
  CHECK(rig.m.status().last_error == "exited with code 3");
  CHECK(rig.m.status().last_run_ms == 200);
  rig.At(1'299);
  CHECK(rig.io.Took().empty());
  rig.At(1'300);  // the restart is due, but the old group is still there
  CHECK(rig.io.Took() == Did{"KILL"});
  rig.At(1'400);
  CHECK(rig.io.Took().empty());  // waits (at most 2 s) for it to go
  rig.io.group_gone = true;
  rig.io.probe_results.push_back({true, ""});
  rig.SpawnAndProbe(1'500);
  CHECK(rig.io.Took() == Did{"spawn", "probe"});
  CHECK(rig.state() == ProcState::kReady);
  CHECK(rig.m.status().restarts == 1);
}

TEST_CASE("instance machine: an old group that survives SIGKILL delays the respawn by 2 s at most", "[drone]") {
  Rig rig;
  rig.StartReady();
  rig.io.group_gone = false;
  rig.m.OnExit(1'200, Exited(1));
  rig.io.Took();
  rig.At(1'300);
  CHECK(rig.io.Took() == Did{"KILL"});
  rig.At(3'299);
  CHECK(rig.io.Took().empty());
  rig.At(3'300);
  CHECK(rig.io.Took() == Did{"spawn"});
}

TEST_CASE("instance machine: quick crashes make a crash loop; a stable run ends it", "[drone]") {
  Rig rig;
  int64_t t = 1'000;
  for (int i = 0; i < 3; ++i) {
    rig.io.probe_results.push_back({true, ""});
    rig.SpawnAndProbe(t);
    rig.io.group_gone = true;
    rig.m.OnExit(t + 50, Exited(1));
    t = (t + 50) + (100 << i);  // the backoff doubles
    CHECK(rig.m.NextWake(1'000'000) == t);
  }
  CHECK(rig.m.status().crash_loop);
  CHECK(rig.m.status().restarts == 2);
  rig.io.probe_results.push_back({true, ""});
  rig.SpawnAndProbe(t);
  CHECK(rig.m.status().crash_loop);
  rig.At(t + 10'000);  // stable_after_ms
  CHECK_FALSE(rig.m.status().crash_loop);
  CHECK_FALSE(rig.io.reports.back().crash_loop);
}

TEST_CASE("instance machine: past max quick restarts it gives up and kills what is left", "[drone]") {
  Rig rig(Web(), Policy(/*max_quick=*/1));
  int64_t t = 1'000;
  rig.io.probe_results.push_back({true, ""});
  rig.SpawnAndProbe(t);
  rig.io.group_gone = true;
  rig.m.OnExit(t + 50, Exited(1));
  CHECK(rig.state() == ProcState::kBackoff);
  rig.io.probe_results.push_back({true, ""});
  rig.SpawnAndProbe(t + 150);
  rig.io.Took();
  rig.io.group_gone = false;
  rig.m.OnExit(t + 200, Exited(1));
  CHECK(rig.io.Took() == Did{"TERM", "KILL"});
  CHECK(rig.state() == ProcState::kFailed);
  CHECK_FALSE(rig.m.status().port_clash);
  rig.At(t + 100'000);
  CHECK(rig.io.Took().empty());  // never again
}

TEST_CASE("instance machine: a spawn that fails counts as a crash", "[drone]") {
  Rig rig;
  rig.io.spawn_error = Status::Internal("exec: no such file");
  rig.At(1'000);
  CHECK(rig.io.Took() == Did{"spawn"});
  CHECK(rig.state() == ProcState::kBackoff);
  CHECK(rig.m.status().last_error.find("no such file") != std::string::npos);
  rig.io.spawn_error = Status::Ok();
  rig.io.probe_results.push_back({true, ""});
  rig.SpawnAndProbe(1'100);
  CHECK(rig.state() == ProcState::kReady);
  CHECK(rig.m.status().restarts == 1);
}

TEST_CASE("instance machine: a stranger on the port is a clash, not a restart", "[drone]") {
  SECTION("seen by the probe") {
    Rig rig;
    rig.io.listener = ListenerCheck::kStranger;
    rig.io.probe_results.push_back({true, ""});
    rig.SpawnAndProbe(1'000);
    CHECK(rig.io.Took() == Did{"spawn", "probe", "KILL"});
    CHECK(rig.state() == ProcState::kStarting);
    rig.At(5'000);  // past the ready timeout: no second kill while waiting for the reap
    CHECK(rig.io.Took().empty());
    rig.io.group_gone = true;
    rig.m.OnExit(5'010, SIGKILL);
    CHECK(rig.state() == ProcState::kFailed);
    CHECK(rig.m.status().port_clash);
    CHECK(rig.m.status().last_error == "port clash: port 4001 is held by pid 7 (nc)");
  }
  SECTION("the app died while starting (EADDRINUSE)") {
    Rig rig;
    rig.At(1'000);
    rig.io.listener = ListenerCheck::kStranger;
    rig.io.group_gone = true;
    rig.m.OnExit(1'010, Exited(1));
    CHECK(rig.state() == ProcState::kFailed);
    CHECK(rig.m.status().port_clash);
  }
  SECTION("nobody listens any more: not ready, probed again") {
    Rig rig;
    rig.io.listener = ListenerCheck::kNone;
    rig.io.probe_results.push_back({true, ""});
    rig.SpawnAndProbe(1'000);
    CHECK(rig.state() == ProcState::kStarting);
    rig.At(4'000);
    rig.io.group_gone = true;
    rig.m.OnExit(4'010, SIGKILL);
    CHECK(rig.m.status().last_error == "not ready on port 4001 after 3s (last probe: the listener went away)");
  }
}

TEST_CASE("instance machine: stop drains, then SIGTERM, then SIGKILL after the stop timeout", "[drone]") {
  Rig rig;
  rig.StartReady();
  rig.m.BeginStop(2'000, 500);
  CHECK(rig.state() == ProcState::kStopping);
  CHECK(rig.io.reports.back().state == ProcState::kStopping);  // reported before any signal
  CHECK(rig.io.Took().empty());
  CHECK(rig.m.EscapeeSignal() == 0);
  CHECK_FALSE(rig.At(2'499));
  CHECK(rig.io.Took().empty());
  CHECK_FALSE(rig.At(2'500));
  CHECK(rig.io.Took() == Did{"TERM"});
  CHECK(rig.m.EscapeeSignal() == SIGTERM);
  CHECK(rig.m.NextWake(1'000'000) == 7'500);
  rig.m.OnExit(2'600, SIGTERM);  // the leader went; the group lingers
  CHECK(rig.state() == ProcState::kStopping);
  CHECK_FALSE(rig.At(7'500));
  CHECK(rig.io.Took() == Did{"KILL"});
  CHECK(rig.m.EscapeeSignal() == SIGKILL);
  rig.io.group_gone = true;
  CHECK(rig.At(7'510));
  rig.m.MarkStopped();
  CHECK(rig.state() == ProcState::kStopped);
  CHECK(rig.io.reports.back().state == ProcState::kStopped);
}

TEST_CASE("instance machine: stop details", "[drone]") {
  SECTION("nothing left to drain: done at once") {
    Rig rig;
    rig.io.spawn_error = Status::Internal("exec failed");
    rig.At(1'000);
    rig.m.BeginStop(1'010, 10'000);
    CHECK(rig.At(1'010));
    CHECK(rig.io.Took() == Did{"spawn"});
  }
  SECTION("a group that survives SIGKILL is given up after 2 s") {
    Rig rig;
    rig.StartReady();
    rig.m.BeginStop(2'000, 0);
    rig.At(2'000);
    CHECK_FALSE(rig.At(7'000));
    CHECK(rig.io.Took() == Did{"TERM", "KILL"});
    CHECK_FALSE(rig.At(8'999));
    CHECK(rig.At(9'000));
  }
  SECTION("the spec's stop timeout overrides the drone's") {
    ProcessSpec s = Web();
    s.stop_timeout_ms = 1'000;
    Rig rig(s, Policy());
    rig.StartReady();
    rig.m.BeginStop(2'000, 0);
    rig.At(2'000);
    rig.At(3'000);
    CHECK(rig.io.Took() == Did{"TERM", "KILL"});
  }
  SECTION("a stop during the backoff cancels the restart") {
    Rig rig;
    rig.StartReady();
    rig.io.group_gone = true;
    rig.m.OnExit(1'100, Exited(1));
    rig.m.BeginStop(1'110, 500);
    CHECK(rig.m.status().next_restart_unix_ms == 0);
    CHECK(rig.At(1'200));
    CHECK(rig.io.Took().empty());
  }
  SECTION("a second stop changes nothing") {
    Rig rig;
    rig.StartReady();
    rig.m.BeginStop(2'000, 500);
    const size_t reports = rig.io.reports.size();
    rig.m.BeginStop(2'100, 0);
    CHECK(rig.io.reports.size() == reports);
    CHECK_FALSE(rig.At(2'100));  // the first drain still counts
  }
  SECTION("a stop while starting drops the probe") {
    Rig rig;
    rig.SpawnAndProbe(1'000);
    rig.io.Took();
    rig.m.BeginStop(1'010, 0);
    CHECK(rig.io.Took() == Did{"drop"});
  }
}
