// What to do after an instance's process ended without Stop(): restart it
// after a backoff, flag a crash loop, or give up. Pure: the caller passes
// the run's duration, how it ended, the time and a random value, so tests
// need no processes and no clock.
#pragma once

#include <cstdint>
#include <string>

#include "core/backoff.h"

namespace skyport::drone {

struct RestartPolicy {
  BackoffPolicy backoff{200, 30'000, 2.0, 0.2};
  // A run at least this long was healthy: the backoff starts over.
  int64_t stable_after_ms = 10'000;
  // Quick crashes in a row (including this one) from which crash_loop is set.
  int crash_loop_after = 3;
  // 0: restart forever. N > 0: after N quick restarts in a row, the next
  // quick crash gives up (kFailed).
  int max_quick_restarts = 0;
};

struct RunOutcome {
  int64_t run_ms = 0;       // from spawn to exit
  int wait_status = 0;      // as returned by waitpid()
  bool not_ready = false;   // killed because readiness did not come in time
  int64_t ready_timeout_ms = 0;
  std::string spawn_error;  // non-empty: the process could not even start
  int quick_crashes = 0;    // quick crashes in a row before this one
};

struct RestartDecision {
  bool restart = false;
  int64_t delay_ms = 0;
  int64_t restart_at_ms = 0;  // now + delay_ms (same clock as `now_ms`)
  bool crash_loop = false;
  bool failed = false;
  int quick_crashes = 0;      // to pass in with the next outcome
  std::string cause;          // "exited with code 3": for ProcStatus::last_error
  std::string reason;         // cause plus what happens next, for logs
};

// "exited with code 3", "killed by signal 9".
std::string DescribeWaitStatus(int wait_status);
// "300ms", "5s", "1.5s".
std::string FormatDurationMs(int64_t ms);

RestartDecision DecideRestart(const RestartPolicy& policy, const RunOutcome& outcome, int64_t now_ms,
                              double uniform01);

}  // namespace skyport::drone
