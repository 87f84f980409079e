// One supervised instance's life as a state machine (Ninja's Plan beside its
// CommandRunner): every decision — when to spawn, probe, give up on
// readiness, restart after a crash (drone/restart_policy.h), drain, SIGTERM,
// SIGKILL — is made here with the time as an input; what touches processes
// goes through InstanceIO, which the Supervisor implements over process
// groups, signals, pipes and /proc, and tests with a Fake.
//
//   (spawn_at) ─spawn─▶ kStarting ─probe answered by the instance─▶ kReady ─min uptime─▶ settled
//       ▲                  │ ready timeout: SIGKILL                     │
//       │                  ▼                                            ▼
//       └── kBackoff ◀── exit (the restart policy decides) ──▶ kFailed (gave up, or a port clash)
//
//   Stop (any state): kStopping ─drain─▶ SIGTERM ─stop timeout─▶ SIGKILL ─2 s─▶ given up
//                     ... and as soon as the group is gone: done (the caller reports kStopped)
//
// Before a respawn the previous run's group must be gone (SIGKILL, then at
// most 2 s). A run that stays ready stable_after_ms ends a crash loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "core/port_owner.h"
#include "drone/restart_policy.h"
#include "drone/supervisor.h"

namespace skyport::drone {

// What the machine asks of the world and does to it, for one instance.
class InstanceIO {
 public:
  virtual ~InstanceIO() = default;
  // True when the last run's process group, and whatever escaped it, has no live member.
  virtual bool GroupGone() = 0;
  // To the group and whatever escaped it.
  virtual void Signal(int sig) = 0;
  // Starts a run: the leader's pid, or why it could not start.
  virtual Result<int64_t> Spawn() = 0;
  // One readiness probe attempt at a time: begun, dropped, and its result
  // once it has one (then it is over).
  struct ProbeResult {
    bool ready = false;
    std::string error;  // why not ready
  };
  virtual void BeginProbe() = 0;
  virtual void DropProbe() = 0;
  virtual std::optional<ProbeResult> TakeProbeResult() = 0;
  // Who listens on the instance's port (a stranger is described in `who`).
  virtual ListenerCheck CheckListener(std::string* who) = 0;
  // The status changed: published to List() and OnChange.
  virtual void Report(const ProcStatus& status) = 0;
  // The last run's process group (0: none or gone), for the logs.
  virtual int64_t Pgid() const = 0;
};

struct InstancePolicy {
  RestartPolicy restart;
  int64_t stable_after_ms = 10'000;  // a run this long (ready) ends a crash loop
  int64_t term_timeout_ms = 5'000;   // SIGTERM -> SIGKILL, unless the spec sets its own
};

class InstanceMachine {
 public:
  static constexpr int64_t kProbeIntervalMs = 20;  // readiness shows in deploy latency
  static constexpr int64_t kProbeAttemptMs = 1'000;
  static constexpr int64_t kAfterKillMs = 2'000;  // a SIGKILLed group is gone within this

  // A new instance, to be spawned at `now`. `clock` gives the wall time of
  // the status's *_unix_ms fields; every other time comes in as `now` (ms, monotonic).
  InstanceMachine(const ProcessSpec& spec, const InstancePolicy& policy, InstanceIO& io, Random& random,
                  const Clock& clock, int64_t now);

  const ProcStatus& status() const { return status_; }
  bool stopping() const { return stopping_; }
  // The signal a process found escaping the instance now gets (0: none),
  // so that it goes the way of the group being stopped.
  int EscapeeSignal() const;

  // Moves the timers on. True once a stop is complete.
  bool Advance(int64_t now);
  // Stop: reported as kStopping at once; SIGTERM after `drain_ms`.
  void BeginStop(int64_t now, int64_t drain_ms);
  // The run's leader was reaped.
  void OnExit(int64_t now, int wait_status);
  // The probe in flight made progress (its fd was ready).
  void OnProbeEvent(int64_t now);
  // The stop is complete: kStopped, reported.
  void MarkStopped();
  // The earliest time (not after `bound`) at which Advance has something to do.
  int64_t NextWake(int64_t bound) const;

 private:
  void SpawnNow(int64_t now);
  bool OldGroupGone(int64_t now, bool gone);
  bool AdvanceStop(int64_t now, bool gone);
  void AdvanceReadiness(int64_t now);
  void OnProbeDone(int64_t now, InstanceIO::ProbeResult r);
  void OnPortClash(const std::string& who);
  void ApplyDecision(const RestartDecision& d, int64_t now);
  void Report() { io_.Report(status_); }

  const ProcessSpec& spec_;
  const InstancePolicy& policy_;
  InstanceIO& io_;
  Random& random_;
  const Clock& clock_;
  const int64_t stop_timeout_ms_;
  ProcStatus status_;

  bool running() const { return status_.pid != 0; }
  int64_t started_mono_ = 0;  // of the current run; 0 before the first
  bool spawn_pending_ = true;
  int64_t spawn_at_ = 0;
  bool old_group_killed_ = false;  // before a respawn
  int64_t old_group_deadline_ = 0;
  bool probing_ = false;
  int64_t probe_deadline_ = 0, next_probe_at_ = 0;
  bool killed_not_ready_ = false;
  std::string probe_error_;  // the last failed attempt's, for "not ready" and the logs
  std::string clash_;        // non-empty: killed because a stranger holds the port
  int64_t ready_mono_ = 0;   // when this run became ready
  int quick_crashes_ = 0;
  bool stopping_ = false, term_sent_ = false, kill_sent_ = false;
  int64_t drain_until_ = 0, kill_at_ = 0, give_up_at_ = 0;
};

}  // namespace skyport::drone
