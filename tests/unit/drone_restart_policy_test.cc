#include <catch2/catch.hpp>

#include <sys/wait.h>

#include "drone/restart_policy.h"

using namespace skyport;
using namespace skyport::drone;

namespace {

constexpr int Exited(int code) { return code << 8; }
constexpr int Signaled(int sig) { return sig; }

RestartPolicy Policy(int max_quick = 0) {
  RestartPolicy p;
  p.backoff = {100, 1'000, 2.0, 0.0};  // no jitter: exact delays
  p.stable_after_ms = 10'000;
  p.crash_loop_after = 3;
  p.max_quick_restarts = max_quick;
  return p;
}

}  // namespace

TEST_CASE("DescribeWaitStatus", "[drone]") {
  CHECK(DescribeWaitStatus(Exited(0)) == "exited with code 0");
  CHECK(DescribeWaitStatus(Exited(3)) == "exited with code 3");
  CHECK(DescribeWaitStatus(Signaled(9)) == "killed by signal 9");
  CHECK(FormatDurationMs(300) == "300ms");
  CHECK(FormatDurationMs(5'000) == "5s");
  CHECK(FormatDurationMs(1'500) == "1.5s");
}

TEST_CASE("Restart decisions", "[drone]") {
  struct Row {
    const char* name;
    int max_quick;
    int64_t run_ms;
    int quick_before;
    bool restart, crash_loop, failed;
    int64_t delay_ms;
    int quick_after;
  };
  const Row rows[] = {
      {"first quick crash", 0, 50, 0, true, false, false, 100, 1},
      {"second quick crash doubles", 0, 50, 1, true, false, false, 200, 2},
      {"third quick crash is a loop", 0, 50, 2, true, true, false, 400, 3},
      {"delay is capped", 0, 50, 10, true, true, false, 1'000, 11},
      {"a stable run resets the backoff", 0, 10'000, 7, true, false, false, 100, 1},
      {"just short of stable is quick", 0, 9'999, 7, true, true, false, 1'000, 8},
      {"under the limit: restart", 2, 50, 1, true, false, false, 200, 2},
      {"over the limit: failed", 2, 50, 2, false, true, true, 0, 3},
      {"limit ignores a stable run", 2, 60'000, 2, true, false, false, 100, 1},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    RunOutcome o;
    o.run_ms = r.run_ms;
    o.wait_status = Exited(1);
    o.quick_crashes = r.quick_before;
    RestartDecision d = DecideRestart(Policy(r.max_quick), o, 5'000, 0.5);
    CHECK(d.restart == r.restart);
    CHECK(d.crash_loop == r.crash_loop);
    CHECK(d.failed == r.failed);
    CHECK(d.delay_ms == r.delay_ms);
    CHECK(d.quick_crashes == r.quick_after);
    if (d.restart) CHECK(d.restart_at_ms == 5'000 + r.delay_ms);
    CHECK(d.cause == "exited with code 1");
  }
}

TEST_CASE("Restart causes and reasons", "[drone]") {
  RunOutcome o;
  o.run_ms = 30'000;
  o.not_ready = true;
  o.ready_timeout_ms = 30'000;
  auto d = DecideRestart(Policy(), o, 0, 0.5);
  CHECK(d.cause == "not ready after 30s");
  CHECK(d.reason == "not ready after 30s; restarting in 100ms");

  RunOutcome s;
  s.spawn_error = "chdir /nope: No such file or directory";
  d = DecideRestart(Policy(), s, 0, 0.5);
  CHECK(d.cause == "cannot start: chdir /nope: No such file or directory");
  CHECK(d.restart);
  CHECK(d.reason == "cannot start: chdir /nope: No such file or directory; restarting in 100ms");

  RunOutcome k;
  k.run_ms = 10;
  k.wait_status = Signaled(9);
  k.quick_crashes = 2;
  d = DecideRestart(Policy(), k, 0, 0.5);
  CHECK(d.reason == "killed by signal 9 after 10ms; restarting in 400ms (crash loop: 3 quick crashes in a row)");
}

TEST_CASE("Restart jitter stays within the policy", "[drone]") {
  RestartPolicy p = Policy();
  p.backoff.jitter = 0.2;
  RunOutcome o;
  o.run_ms = 1;
  CHECK(DecideRestart(p, o, 0, 0.0).delay_ms == 80);
  CHECK(DecideRestart(p, o, 0, 0.999999).delay_ms == 120);
}
