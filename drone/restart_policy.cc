#include "drone/restart_policy.h"

#include <sys/wait.h>

#include <fmt/format.h>

namespace skyport::drone {

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with code {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("killed by signal {}", WTERMSIG(st));
  return fmt::format("ended with wait status {}", st);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
}

RestartDecision DecideRestart(const RestartPolicy& p, const RunOutcome& o, int64_t now_ms, double u) {
  RestartDecision d;
  // How long it ran, unless the cause already says it.
  const std::string ran = o.spawn_error.empty() && !o.not_ready ? " after " + FormatDurationMs(o.run_ms) : "";
  if (!o.spawn_error.empty())
    d.cause = "cannot start: " + o.spawn_error;
  else if (o.not_ready)
    d.cause = "not ready after " + FormatDurationMs(o.ready_timeout_ms);
  else
    d.cause = DescribeWaitStatus(o.wait_status);

  // A healthy run wipes the slate; quick crashes in a row grow the delay.
  const bool quick = o.run_ms < p.stable_after_ms;
  const int before = quick ? o.quick_crashes : 0;
  d.quick_crashes = before + 1;
  d.crash_loop = quick && d.quick_crashes >= p.crash_loop_after;

  if (p.max_quick_restarts > 0 && quick && before >= p.max_quick_restarts) {
    d.failed = true;
    d.reason = fmt::format("{}{}; giving up after {} quick restarts in a row", d.cause, ran, before);
    return d;
  }
  d.restart = true;
  d.delay_ms = BackoffDelayMs(p.backoff, before, u);
  d.restart_at_ms = now_ms + d.delay_ms;
  d.reason = fmt::format("{}{}; restarting in {}", d.cause, ran, FormatDurationMs(d.delay_ms));
  if (d.crash_loop) d.reason += fmt::format(" (crash loop: {} quick crashes in a row)", d.quick_crashes);
  return d;
}

}  // namespace skyport::drone
