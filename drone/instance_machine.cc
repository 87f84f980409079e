#include "drone/instance_machine.h"

#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/log.h"

namespace skyport::drone {

InstanceMachine::InstanceMachine(const ProcessSpec& spec, const InstancePolicy& policy, InstanceIO& io,
                                 Random& random, const Clock& clock, int64_t now)
    : spec_(spec), policy_(policy), io_(io), random_(random), clock_(clock),
      stop_timeout_ms_(spec.stop_timeout_ms > 0 ? spec.stop_timeout_ms : policy.term_timeout_ms), spawn_at_(now) {
  status_.key = spec.key;
  status_.port = spec.port;
}

int InstanceMachine::EscapeeSignal() const {
  if (!stopping_ || !term_sent_) return 0;
  return kill_sent_ ? SIGKILL : SIGTERM;
}

bool InstanceMachine::Advance(int64_t now) {
  const bool gone = io_.GroupGone();
  if (stopping_) return AdvanceStop(now, gone);
  if (!running() && spawn_pending_ && now >= spawn_at_) {
    if (!OldGroupGone(now, gone)) return false;
    SpawnNow(now);
    return false;
  }
  if (running() && status_.state == ProcState::kStarting) AdvanceReadiness(now);
  if (running() && status_.state == ProcState::kReady && !status_.settled && now >= ready_mono_ + spec_.min_uptime_ms) {
    status_.settled = true;
    Report();
  }
  // A run that lasted is healthy again: the crash loop is over.
  if (running() && status_.state == ProcState::kReady && now - started_mono_ >= policy_.stable_after_ms &&
      (status_.crash_loop || quick_crashes_ != 0)) {
    quick_crashes_ = 0;
    if (status_.crash_loop) {
      status_.crash_loop = false;
      Report();
    }
  }
  return false;
}

// Before a respawn the previous run's group (SIGTERMed when its leader
// died) must be gone: leftovers would hold the port or the files.
bool InstanceMachine::OldGroupGone(int64_t now, bool gone) {
  if (gone) return true;
  if (!old_group_killed_) {
    io_.Signal(SIGKILL);
    old_group_killed_ = true;
    old_group_deadline_ = now + kAfterKillMs;
  }
  if (now < old_group_deadline_) return false;
  log::Warn("old process group survives SIGKILL; starting anyway",
            {{"instance", spec_.key.ToString()}, {"pgid", io_.Pgid()}});
  return true;
}

void InstanceMachine::SpawnNow(int64_t now) {
  spawn_pending_ = false;
  const bool restart = started_mono_ != 0 || !status_.last_error.empty();
  started_mono_ = now;
  status_.started_unix_ms = clock_.WallMs();
  status_.next_restart_unix_ms = 0;
  if (restart) ++status_.restarts;
  auto pid = io_.Spawn();
  if (!pid.ok()) {
    RunOutcome o;
    o.spawn_error = pid.status().message();
    o.quick_crashes = quick_crashes_;
    ApplyDecision(DecideRestart(policy_.restart, o, now, random_.Uniform01()), now);
    return;
  }
  old_group_killed_ = false;
  killed_not_ready_ = false;
  probe_error_.clear();
  clash_.clear();
  next_probe_at_ = now;
  ready_mono_ = now;
  status_.pid = *pid;
  status_.settled = spec_.port == 0 && spec_.min_uptime_ms <= 0;
  status_.port_clash = false;
  // A worker has nothing to probe: running is ready.
  status_.state = spec_.port == 0 ? ProcState::kReady : ProcState::kStarting;
  Report();
  log::Info("started", {{"instance", spec_.key.ToString()}, {"pid", status_.pid}, {"restarts", status_.restarts}});
}

void InstanceMachine::AdvanceReadiness(int64_t now) {
  if (killed_not_ready_ || !clash_.empty()) return;  // waiting for the reap
  if (now >= started_mono_ + spec_.ready_timeout_ms) {
    io_.DropProbe();
    probing_ = false;
    killed_not_ready_ = true;
    io_.Signal(SIGKILL);
    return;
  }
  if (probing_ && now >= probe_deadline_) {
    io_.DropProbe();
    probing_ = false;
    probe_error_ = fmt::format("no answer within {}", FormatDurationMs(kProbeAttemptMs));
    next_probe_at_ = now + kProbeIntervalMs;
  }
  if (!probing_ && now >= next_probe_at_) {
    io_.BeginProbe();
    probing_ = true;
    probe_deadline_ = now + kProbeAttemptMs;
    OnProbeEvent(now);
  }
}

void InstanceMachine::OnProbeEvent(int64_t now) {
  if (!probing_) return;
  auto r = io_.TakeProbeResult();
  if (!r) return;
  probing_ = false;
  OnProbeDone(now, std::move(*r));
}

void InstanceMachine::OnProbeDone(int64_t now, InstanceIO::ProbeResult r) {
  bool ready = r.ready;
  if (!ready) probe_error_ = r.error;
  // Someone answered: it must be this instance, not a stranger on its port.
  if (ready && spec_.port != 0) {
    std::string who;
    ListenerCheck check = io_.CheckListener(&who);
    if (check == ListenerCheck::kStranger) return OnPortClash(who);
    if (check == ListenerCheck::kNone) {
      ready = false;
      probe_error_ = "the listener went away";
    }
  }
  if (!ready) {
    next_probe_at_ = now + kProbeIntervalMs;
    return;
  }
  status_.state = ProcState::kReady;
  ready_mono_ = now;
  if (spec_.min_uptime_ms <= 0) status_.settled = true;
  Report();
  log::Info("ready", {{"instance", spec_.key.ToString()}, {"pid", status_.pid}, {"after_ms", now - started_mono_}});
}

// A stranger answers on the instance's port: the instance is killed and
// failed (not restarted on that port); the caller allocates another.
void InstanceMachine::OnPortClash(const std::string& who) {
  clash_ = "port clash: " + who;
  log::Warn("port clash: another process listens on the instance's port",
            {{"instance", spec_.key.ToString()}, {"port", spec_.port}, {"owner", who}});
  io_.Signal(SIGKILL);
}

void InstanceMachine::BeginStop(int64_t now, int64_t drain_ms) {
  if (stopping_) return;
  stopping_ = true;
  spawn_pending_ = false;
  io_.DropProbe();
  probing_ = false;
  drain_until_ = now + std::max<int64_t>(drain_ms, 0);
  status_.state = ProcState::kStopping;
  status_.next_restart_unix_ms = 0;
  Report();
  log::Info("stopping", {{"instance", spec_.key.ToString()}, {"pid", status_.pid}, {"drain_ms", drain_ms}});
}

// Stop phases: drain, SIGTERM to the group, SIGKILL after the timeout.
bool InstanceMachine::AdvanceStop(int64_t now, bool gone) {
  if (!term_sent_) {
    if (gone) return true;  // nothing left to drain
    if (now < drain_until_) return false;
    io_.Signal(SIGTERM);
    term_sent_ = true;
    kill_at_ = now + stop_timeout_ms_;
    return false;
  }
  if (gone) return true;
  if (!kill_sent_ && now >= kill_at_) {
    io_.Signal(SIGKILL);
    kill_sent_ = true;
    give_up_at_ = now + kAfterKillMs;
    log::Warn("SIGKILL after the term timeout", {{"instance", spec_.key.ToString()}, {"pgid", io_.Pgid()}});
  }
  if (kill_sent_ && now >= give_up_at_) {
    log::Error("process group survives SIGKILL", {{"instance", spec_.key.ToString()}, {"pgid", io_.Pgid()}});
    return true;
  }
  return false;
}

void InstanceMachine::MarkStopped() {
  status_.state = ProcState::kStopped;
  status_.pid = 0;
  Report();
}

void InstanceMachine::OnExit(int64_t now, int wait_status) {
  status_.pid = 0;
  io_.DropProbe();
  probing_ = false;
  if (stopping_) return;  // AdvanceStop sees it
  const bool was_starting = status_.state == ProcState::kStarting;
  status_.settled = false;
  status_.last_run_ms = now - started_mono_;
  // An app that died while starting may have failed to bind (EADDRINUSE):
  // a stranger on its port is a clash, not a crash.
  if (clash_.empty() && was_starting && spec_.port != 0 && !killed_not_ready_) {
    std::string who;
    if (io_.CheckListener(&who) == ListenerCheck::kStranger) clash_ = "port clash: " + who;
  }
  // The rest of the group must not outlive its leader; SIGKILL follows
  // before the respawn if needed.
  if (!io_.GroupGone()) io_.Signal(SIGTERM);
  if (!clash_.empty()) {
    RestartDecision d;
    d.failed = true;
    d.quick_crashes = quick_crashes_;
    d.cause = d.reason = clash_;
    status_.port_clash = true;
    ApplyDecision(d, now);
    return;
  }
  RunOutcome o;
  o.run_ms = now - started_mono_;
  o.wait_status = wait_status;
  o.not_ready = killed_not_ready_;
  o.ready_timeout_ms = spec_.ready_timeout_ms;
  o.quick_crashes = quick_crashes_;
  RestartDecision d = DecideRestart(policy_.restart, o, now, random_.Uniform01());
  if (o.not_ready) {
    // Which port, and what the probe last saw: "connection refused" and
    // "answered 500" need different fixes.
    std::string cause = fmt::format("not ready on port {} after {}", spec_.port, FormatDurationMs(o.ready_timeout_ms));
    if (!probe_error_.empty()) cause += " (last probe: " + probe_error_ + ")";
    d.reason.replace(0, d.cause.size(), cause);
    d.cause = cause;
  }
  ApplyDecision(d, now);
}

void InstanceMachine::ApplyDecision(const RestartDecision& d, int64_t now) {
  quick_crashes_ = d.quick_crashes;
  killed_not_ready_ = false;
  status_.last_error = d.cause;
  status_.crash_loop = d.crash_loop;
  if (d.failed) {
    status_.state = ProcState::kFailed;
    if (!io_.GroupGone()) io_.Signal(SIGKILL);
    log::Error("giving up", {{"instance", spec_.key.ToString()}, {"reason", d.reason}});
  } else {
    status_.state = ProcState::kBackoff;
    spawn_pending_ = true;
    spawn_at_ = d.restart_at_ms;
    status_.next_restart_unix_ms = clock_.WallMs() + (d.restart_at_ms - now);
    log::Warn("crashed", {{"instance", spec_.key.ToString()}, {"reason", d.reason}});
  }
  Report();
}

int64_t InstanceMachine::NextWake(int64_t bound) const {
  if (stopping_) return std::min(bound, !term_sent_ ? drain_until_ : !kill_sent_ ? kill_at_ : give_up_at_);
  if (spawn_pending_) return std::min(bound, spawn_at_);
  if (running() && status_.state == ProcState::kStarting)
    return std::min({bound, started_mono_ + spec_.ready_timeout_ms, probing_ ? probe_deadline_ : next_probe_at_});
  if (running() && status_.state == ProcState::kReady && !status_.settled)
    return std::min(bound, ready_mono_ + spec_.min_uptime_ms);
  return bound;
}

}  // namespace skyport::drone
