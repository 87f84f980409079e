// The owner thread holds every process (Proc) and is the only one to touch
// them; other threads post commands and read the published snapshots
// (statuses_, tails_) under mu_. Callbacks run on the owner thread with no
// lock held.
#include "drone/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/children.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "core/names.h"
#include "drone/instance_tracker.h"
#include "drone/log_file.h"
#include "drone/metrics.h"
#include "drone/port_owner.h"
#include "drone/proc_stat.h"
#include "drone/readiness.h"
#include "drone/restart_policy.h"
#include "drone/spawn.h"
#include "drone/state_file.h"

namespace skyport::drone {

std::string InstanceKey::ToString() const { return fmt::format("{}@{}/{}.{}", app, commit, role, instance); }

const char* ProcStateName(ProcState s) {
  switch (s) {
    case ProcState::kStarting: return "starting";
    case ProcState::kReady: return "ready";
    case ProcState::kBackoff: return "backoff";
    case ProcState::kStopping: return "stopping";
    case ProcState::kStopped: return "stopped";
    case ProcState::kFailed: return "failed";
  }
  return "unknown";
}

namespace {

// No SIGCHLD wakeup (a library must not own process-wide signals), so the
// loop wakes at least this often to reap: it bounds crash-report latency.
constexpr int64_t kMaxPollMs = 50;
constexpr int64_t kProbeIntervalMs = 20;  // readiness shows in deploy latency
constexpr int64_t kProbeAttemptMs = 1'000;
constexpr int64_t kAfterKillMs = 2'000;  // a SIGKILLed group is gone within this
constexpr size_t kReadBudget = 256 * 1024;  // per stream per wakeup, so one chatty app cannot starve the rest

struct Stream {
  const char* name;
  int fd = -1;
  LineSplitter split;
};

struct Proc {
  ProcessSpec spec;
  ProcStatus status;
  pid_t pid = 0;   // the leader while it is not reaped
  pid_t pgid = 0;  // of the latest run, kept while members may live on
  uint64_t start_time = 0;
  Stream out{"stdout", -1, LineSplitter()}, err{"stderr", -1, LineSplitter()};
  std::unique_ptr<LogFile> log;
  bool log_failed = false;  // said once, not per line
  int64_t started_mono = 0;
  bool spawn_pending = true;
  int64_t spawn_at = 0;
  bool old_group_killed = false;  // before a respawn
  int64_t old_group_deadline = 0;
  std::unique_ptr<ReadyProbe> probe;
  int64_t probe_deadline = 0, next_probe_at = 0;
  bool killed_not_ready = false;
  std::string probe_error;   // the last failed attempt's, for "not ready" and the logs
  std::string clash;         // non-empty: killed because a stranger holds the port
  int64_t ready_mono = 0;    // when this run became ready
  int quick_crashes = 0;
  bool stopping = false, term_sent = false, kill_sent = false;
  int64_t drain_until = 0, kill_at = 0, give_up_at = 0;
  std::vector<std::shared_ptr<std::promise<void>>> waiters;
  InstanceTracker tracker;  // what escaped the group: its cgroup, or pids found in /proc
};

struct Command {
  enum Kind { kRun, kStop, kQuit } kind;
  ProcessSpec spec;  // kRun
  InstanceKey key;   // kStop
  int64_t drain_ms = 0;
  std::shared_ptr<std::promise<void>> done;
};

// Signals a group we started. pgid 0 would mean our own group (and 1 init's):
// never, whatever state bug led here.
void SignalGroup(pid_t pgid, int sig) {
  if (pgid > 1) kill(-pgid, sig);
}

bool Matches(const InstanceKey& k, const std::string& app, const std::string& commit, const std::string& role) {
  return (app.empty() || k.app == app) && (commit.empty() || k.commit.starts_with(commit)) &&
         (role.empty() || k.role == role);
}

class SupervisorImpl final : public Supervisor {
 public:
  SupervisorImpl(SupervisorOptions opts, OnChange on_change, int wake_fd)
      : opts_(std::move(opts)), on_change_(std::move(on_change)), wake_fd_(wake_fd), rng_(std::random_device{}()) {
    policy_.backoff = opts_.restart_backoff;
    policy_.stable_after_ms = opts_.stable_after_ms;
    policy_.max_quick_restarts = opts_.max_quick_restarts;
    policy_.crash_loop_after = opts_.crash_loop_after;
    owner_ = std::thread([this] { Loop(); });
  }

  ~SupervisorImpl() override {
    if (!opts_.leave_running_on_destroy) StopAll(0);
    Post(Command{Command::kQuit, {}, {}, 0, nullptr});
    owner_.join();
    close(wake_fd_);
  }

  Status Run(ProcessSpec spec) override {
    const InstanceKey& k = spec.key;
    for (Status s : {ValidateName("key.app", k.app), ValidateCommitPrefix("key.commit", k.commit),
                     ValidateName("key.role", k.role)})
      if (!s.ok()) return s;
    if (spec.command.empty()) return Status::InvalidArgument("command: empty");
    if (spec.port > 65535) return Status::InvalidArgument("port: above 65535");
    if (spec.port != 0 && spec.ready_timeout_ms <= 0) return Status::InvalidArgument("ready_timeout_ms: must be > 0");
    {
      std::lock_guard lock(mu_);
      if (statuses_.count(k) != 0) return Status::AlreadyExists(k.ToString() + " is already supervised");
      ProcStatus st;
      st.key = k;
      st.port = spec.port;
      statuses_[k] = st;
      tails_.emplace(k, TailRing<LogLine>(opts_.tail_lines));
    }
    Post(Command{Command::kRun, std::move(spec), {}, 0, nullptr});
    return Status::Ok();
  }

  Status Stop(const InstanceKey& key, int64_t drain_ms) override {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    {
      std::lock_guard lock(mu_);
      if (statuses_.count(key) == 0) return Status::NotFound(key.ToString() + " is not supervised");
    }
    Post(Command{Command::kStop, {}, key, drain_ms, done});
    fut.wait();
    return Status::Ok();
  }

  void StopAll(int64_t drain_ms) override {
    std::vector<std::future<void>> futs;
    {
      std::lock_guard lock(mu_);
      for (const auto& [key, st] : statuses_) {
        auto done = std::make_shared<std::promise<void>>();
        futs.push_back(done->get_future());
        commands_.push_back(Command{Command::kStop, {}, key, drain_ms, done});
      }
    }
    Wake();
    for (auto& f : futs) f.wait();  // the drains overlap
  }

  std::vector<ProcStatus> List() const override {
    std::lock_guard lock(mu_);
    std::vector<ProcStatus> out;
    for (const auto& [key, st] : statuses_) out.push_back(st);
    return out;
  }

  std::vector<LogLine> Tail(const std::string& app, const std::string& commit, const std::string& role,
                            size_t n) const override {
    std::vector<LogLine> out;
    {
      std::lock_guard lock(mu_);
      for (const auto& [key, ring] : tails_) {
        if (!Matches(key, app, commit, role)) continue;
        auto lines = ring.Last(n);
        out.insert(out.end(), lines.begin(), lines.end());
      }
      if (!commit.empty())
        for (const auto& [key, ring] : stopped_tails_) {
          if (!Matches(key, app, commit, role) || tails_.count(key)) continue;
          auto lines = ring.Last(n);
          out.insert(out.end(), lines.begin(), lines.end());
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const LogLine& a, const LogLine& b) { return a.unix_ms < b.unix_ms; });
    return out;
  }

  uint64_t Subscribe(OnLog on_log) override {
    std::lock_guard lock(subs_mu_);
    subs_[++next_sub_] = std::move(on_log);
    return next_sub_;
  }

  // Once this returns the callback is not running and will not run again
  // (so it must not be called from inside the callback).
  void Unsubscribe(uint64_t id) override {
    std::lock_guard lock(subs_mu_);
    subs_.erase(id);
  }

 private:
  static int64_t Now() { return SystemClock::Get()->MonoMs(); }
  static int64_t WallNow() { return SystemClock::Get()->WallMs(); }

  void Post(Command c) {
    {
      std::lock_guard lock(mu_);
      commands_.push_back(std::move(c));
    }
    Wake();
  }
  void Wake() {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void)n;  // EAGAIN: a wakeup is already pending
  }

  // ---- owner thread only below ----

  void Loop() {
    for (;;) {
      std::deque<Command> cmds;
      {
        std::lock_guard lock(mu_);
        cmds.swap(commands_);
      }
      bool quit = false;
      for (auto& c : cmds) {
        if (c.kind == Command::kQuit) quit = true;
        else if (c.kind == Command::kRun) AddProc(std::move(c.spec));
        else BeginStop(c.key, c.drain_ms, std::move(c.done));
      }
      if (quit) break;
      Publish();  // kStopping reaches the caller before any signal is sent
      Reap();
      const int64_t now = Now();
      AdoptOrphans(now);
      std::vector<InstanceKey> done;
      for (auto& [key, p] : procs_)
        if (Advance(*p, now)) done.push_back(key);
      for (const auto& key : done) FinishStop(key);
      Publish();
      PollOnce(NextDeadline(Now()));
      Publish();
    }
    // Left running on purpose (leave_running_on_destroy): just let go.
    for (auto& [key, p] : procs_) CloseStreams(*p);
  }

  void AddProc(ProcessSpec spec) {
    auto p = std::make_unique<Proc>();
    p->status.key = spec.key;
    p->status.port = spec.port;
    p->spec = std::move(spec);
    p->spawn_at = Now();
    InstanceKey key = p->spec.key;
    procs_[key] = std::move(p);
  }

  void BeginStop(const InstanceKey& key, int64_t drain_ms, std::shared_ptr<std::promise<void>> done) {
    auto it = procs_.find(key);
    if (it == procs_.end()) {  // already stopped by an earlier command
      done->set_value();
      return;
    }
    Proc& p = *it->second;
    p.waiters.push_back(std::move(done));
    if (p.stopping) return;
    p.stopping = true;
    p.spawn_pending = false;
    p.probe.reset();
    p.drain_until = Now() + std::max<int64_t>(drain_ms, 0);
    p.status.state = ProcState::kStopping;
    p.status.next_restart_unix_ms = 0;
    Report(p);
    log::Info("stopping", {{"instance", key.ToString()}, {"pid", p.pid}, {"drain_ms", drain_ms}});
  }

  // True when the last run's group has no live member. Then the pgid is
  // forgotten for good: once empty, the kernel may hand that number to an
  // unrelated process (pids wrap at pid_max), and a stale killpg would hit it.
  bool GroupGone(Proc& p) {
    if (p.pid != 0) return false;  // an unreaped leader pins the pgid
    if (p.pgid != 0 && !GroupHasLiveMembers(p.pgid)) p.pgid = 0;
    const bool rest_gone = p.tracker.Gone();
    return p.pgid == 0 && rest_gone;
  }

  // The group, and whatever escaped it (setsid, double fork).
  void SignalInstance(Proc& p, int sig) {
    AdoptOrphans(Now(), /*now_anyway=*/true);
    SignalGroup(p.pgid, sig);
    if (p.tracker.Refresh(p.pid, p.pgid, p.spec.key.ToString()) > 0) state_dirty_ = true;
    p.tracker.Signal(sig);
  }

  // Timers of one instance. True when its stop is complete.
  bool Advance(Proc& p, int64_t now) {
    GroupGone(p);
    if (p.stopping) return AdvanceStop(p, now);
    if (p.pid == 0 && p.spawn_pending && now >= p.spawn_at) {
      if (!OldGroupGone(p, now)) return false;
      Spawn(p, now);
      return false;
    }
    if (p.pid != 0 && p.status.state == ProcState::kStarting) AdvanceReadiness(p, now);
    if (p.pid != 0 && p.status.state == ProcState::kReady && !p.status.settled &&
        now >= p.ready_mono + p.spec.min_uptime_ms) {
      p.status.settled = true;
      Report(p);
    }
    // A run that lasted is healthy again: the crash loop is over.
    if (p.pid != 0 && p.status.state == ProcState::kReady && now - p.started_mono >= opts_.stable_after_ms &&
        (p.status.crash_loop || p.quick_crashes != 0)) {
      p.quick_crashes = 0;
      if (p.status.crash_loop) {
        p.status.crash_loop = false;
        Report(p);
      }
    }
    return false;
  }

  // Before a respawn the previous run's group (SIGTERMed when its leader
  // died) must be gone: leftovers would hold the port or the files.
  bool OldGroupGone(Proc& p, int64_t now) {
    if (GroupGone(p)) return true;
    if (!p.old_group_killed) {
      SignalInstance(p, SIGKILL);
      p.old_group_killed = true;
      p.old_group_deadline = now + kAfterKillMs;
    }
    if (now < p.old_group_deadline) return false;
    log::Warn("old process group survives SIGKILL; starting anyway",
              {{"instance", p.spec.key.ToString()}, {"pgid", p.pgid}});
    return true;
  }

  void Spawn(Proc& p, int64_t now) {
    p.spawn_pending = false;
    CloseStreams(p);
    if (!p.log && !opts_.log_dir.empty()) {
      const InstanceKey& k = p.spec.key;
      auto f = LogFile::Open(fmt::format("{}/{}/{}/{}.{}.log", opts_.log_dir, k.app, k.commit, k.role, k.instance),
                             opts_.log_max_bytes, opts_.log_keep);
      if (f.ok())
        p.log = std::move(f).value();
      else if (!p.log_failed) {
        p.log_failed = true;
        log::Error("cannot open log file", {{"instance", k.ToString()}, {"error", f.status().ToString()}});
      }
    }
    const bool restart = p.started_mono != 0 || !p.status.last_error.empty();
    p.started_mono = now;
    p.status.started_unix_ms = WallNow();
    p.status.next_restart_unix_ms = 0;
    if (restart) ++p.status.restarts;
    auto r = SpawnInstance(p);
    if (!r.ok()) {
      RunOutcome o;
      o.spawn_error = r.status().message();
      o.quick_crashes = p.quick_crashes;
      ApplyDecision(p, DecideRestart(policy_, o, now, Uniform()), now);
      return;
    }
    p.pid = p.pgid = r->pid;
    auto st = ReadProcStat(p.pid);
    p.start_time = st.ok() ? st->start_time : 0;
    p.out.fd = r->stdout_fd;
    p.err.fd = r->stderr_fd;
    p.old_group_killed = false;
    p.killed_not_ready = false;
    p.probe_error.clear();
    p.clash.clear();
    p.next_probe_at = now;
    p.ready_mono = now;
    p.status.pid = p.pid;
    p.status.settled = p.spec.port == 0 && p.spec.min_uptime_ms <= 0;
    p.status.port_clash = false;
    // A worker has nothing to probe: running is ready.
    p.status.state = p.spec.port == 0 ? ProcState::kReady : ProcState::kStarting;
    Report(p);
    state_dirty_ = true;
    log::Info("started", {{"instance", p.spec.key.ToString()}, {"pid", p.pid}, {"restarts", p.status.restarts}});
  }

  Result<Spawned> SpawnInstance(Proc& p) {
    SpawnRequest req;
    req.command = p.spec.command;
    req.cwd = p.spec.cwd;
    for (const auto& [k, v] : p.spec.env) req.env.push_back(k + "=" + v);
    req.setup = p.spec.setup;
    if (opts_.cgroups && p.tracker.cgroup().empty()) {
      const InstanceKey& k = p.spec.key;
      auto dir = opts_.cgroups->Create(fmt::format("{}.{}.{}.{}", k.app, k.commit, k.role, k.instance),
                                       p.spec.cgroup_limits);
      if (!dir.ok()) return dir.status();
      p.tracker.set_cgroup(*dir);
    }
    int fd = -1;
    if (!p.tracker.cgroup().empty()) {
      auto f = CgroupTree::OpenProcs(p.tracker.cgroup());
      if (!f.ok()) return f.status();
      fd = *f;
    }
    req.cgroup_procs_fd = fd;
    auto r = SpawnShell(req);
    if (fd >= 0) close(fd);
    return r;
  }

  // Orphans the kernel gave us: tracked with their instance, or killed.
  // `now_anyway`: before a stop, so that what just escaped goes with it.
  void AdoptOrphans(int64_t now, bool now_anyway = false) {
    if (opts_.drone_name.empty() || (now < next_orphan_scan_ && !now_anyway)) return;
    next_orphan_scan_ = now + opts_.orphan_scan_ms;
    std::set<pid_t> known;
    std::map<std::string, Proc*> by_name;
    for (auto& [key, p] : procs_) {
      if (p->pid != 0) known.insert(p->pid);
      for (const auto& [pid, start] : p->tracker.tracked()) known.insert(pid);
      by_name[key.ToString()] = p.get();
    }
    for (const Adopted& a : orphans_.Scan(known, now)) {
      if (a.in_cgroup) continue;  // its instance's cgroup holds it
      auto it = a.instance.empty() ? by_name.end() : by_name.find(a.instance);
      // Its environment is the app's to write: with a uid per app (--app-uids) the claim counts
      // only from a process of that app's uid, so one app cannot pass its daemon off as another's.
      if (it != by_name.end() && it->second->spec.setup.user && a.uid != it->second->spec.setup.user->uid) {
        uint64_t held = 0;
        if (orphan_log_.Allow(now, &held))
          log::Warn("an orphaned process claims an instance of another user's app; it is not that instance's",
                    {{"process", fmt::format("pid {} uid {} ({})", a.pid, a.uid, a.cmdline)}, {"claims", a.instance},
                     {"more_since_last_line", held}});
        it = by_name.end();
      }
      if (it != by_name.end()) {
        if (it->second->tracker.Track(a.pid, a.start_time)) {
          state_dirty_ = true;
          metrics::CountEscaped(1);
          uint64_t held = 0;
          if (escaped_log_.Allow(now, &held))
            log::Warn("a process escaped its instance's process group; it is stopped with the instance",
                      {{"instance", a.instance}, {"process", fmt::format("pid {} ({})", a.pid, a.cmdline)},
                       {"more_since_last_line", held}});
          Proc& owner = *it->second;
          if (owner.stopping && owner.term_sent) owner.tracker.Signal(owner.kill_sent ? SIGKILL : SIGTERM);
        }
        continue;
      }
      // A build step's helper daemon (a compiler cache server, say) lives
      // until the step is over; then it goes too.
      if (children::AnyClaimed()) continue;
      uint64_t held = 0;
      if (orphan_log_.Allow(now, &held))
        log::Warn("killing an orphaned process that belongs to no running instance",
                  {{"process", fmt::format("pid {} ({})", a.pid, a.cmdline)}, {"instance", a.instance},
                   {"more_since_last_line", held}});
      kill(a.pid, SIGKILL);
      metrics::CountOrphanKilled();
    }
  }

  void AdvanceReadiness(Proc& p, int64_t now) {
    if (p.killed_not_ready || !p.clash.empty()) return;  // waiting for the reap
    if (now >= p.started_mono + p.spec.ready_timeout_ms) {
      p.probe.reset();
      p.killed_not_ready = true;
      SignalInstance(p, SIGKILL);
      return;
    }
    if (p.probe && now >= p.probe_deadline) {
      p.probe.reset();
      p.probe_error = fmt::format("no answer within {}", FormatDurationMs(kProbeAttemptMs));
      p.next_probe_at = now + kProbeIntervalMs;
    }
    if (!p.probe && now >= p.next_probe_at) {
      p.probe = ReadyProbe::Begin(p.spec.ready_host, p.spec.port, p.spec.health_path);
      p.probe_deadline = now + kProbeAttemptMs;
      OnProbeProgress(p, now);
    }
  }

  void OnProbeProgress(Proc& p, int64_t now) {
    if (!p.probe || p.probe->state() == ProbeState::kPending) return;
    bool ready = p.probe->state() == ProbeState::kReady;
    if (!ready) p.probe_error = p.probe->error();
    p.probe.reset();
    // Someone answered: it must be this instance, not a stranger on its port.
    if (ready && p.spec.port != 0) {
      PortOwner owner;
      ListenerCheck check = CheckListener(p.spec.port, p.pgid, &owner, TrackedPids(p));
      if (check == ListenerCheck::kStranger) return OnPortClash(p, owner.Describe(p.spec.port));
      if (check == ListenerCheck::kNone) {
        ready = false;
        p.probe_error = "the listener went away";
      }
    }
    if (!ready) {
      p.next_probe_at = now + kProbeIntervalMs;
      return;
    }
    p.status.state = ProcState::kReady;
    p.ready_mono = now;
    if (p.spec.min_uptime_ms <= 0) p.status.settled = true;
    Report(p);
    log::Info("ready", {{"instance", p.spec.key.ToString()}, {"pid", p.pid}, {"after_ms", now - p.started_mono}});
  }

  // A stranger answers on the instance's port: the instance is killed and
  // failed (not restarted on that port); the caller allocates another.
  void OnPortClash(Proc& p, const std::string& who) {
    p.clash = "port clash: " + who;
    log::Warn("port clash: another process listens on the instance's port",
              {{"instance", p.spec.key.ToString()}, {"port", p.spec.port}, {"owner", who}});
    SignalInstance(p, SIGKILL);
  }

  // The instance's processes outside its group that the supervisor tracks.
  static std::vector<pid_t> TrackedPids(const Proc& p) {
    std::vector<pid_t> out;
    for (const auto& [pid, start] : p.tracker.tracked()) out.push_back(pid);
    return out;
  }

  // Stop phases: drain, SIGTERM to the group, SIGKILL after the timeout.
  bool AdvanceStop(Proc& p, int64_t now) {
    auto gone = [&] { return GroupGone(p); };
    if (!p.term_sent) {
      if (gone()) return true;  // nothing left to drain
      if (now < p.drain_until) return false;
      SignalInstance(p, SIGTERM);
      p.term_sent = true;
      p.kill_at = now + (p.spec.stop_timeout_ms > 0 ? p.spec.stop_timeout_ms : opts_.term_timeout_ms);
      return false;
    }
    if (gone()) return true;
    if (!p.kill_sent && now >= p.kill_at) {
      SignalInstance(p, SIGKILL);
      p.kill_sent = true;
      p.give_up_at = now + kAfterKillMs;
      log::Warn("SIGKILL after the term timeout", {{"instance", p.spec.key.ToString()}, {"pgid", p.pgid}});
    }
    if (p.kill_sent && now >= p.give_up_at) {
      log::Error("process group survives SIGKILL", {{"instance", p.spec.key.ToString()}, {"pgid", p.pgid}});
      return true;
    }
    return false;
  }

  void FinishStop(const InstanceKey& key) {
    auto it = procs_.find(key);
    Proc& p = *it->second;
    DrainStreams(p);
    CloseStreams(p);
    p.tracker.Release();
    if (p.pid != 0) state_dirty_ = true;
    p.status.state = ProcState::kStopped;
    p.status.pid = 0;
    Report(p);
    log::Info("stopped", {{"instance", key.ToString()}});
    finished_.emplace_back(key, std::move(p.waiters));
    procs_.erase(it);
  }

  void Reap() {
    if (!opts_.reap_all_children) {
      ReapOwnLeaders();
      return;
    }
    for (;;) {
      // Peek first: a child claimed by another waiter (core/children.h, e.g.
      // a build step) keeps its status for that waiter.
      siginfo_t si{};
      if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) return;
      if (children::IsClaimed(si.si_pid)) {
        ReapAroundClaimed();
        return;
      }
      int st = 0;
      if (waitpid(si.si_pid, &st, WNOHANG) != si.si_pid) return;
      Dispatch(si.si_pid, st);
    }
  }

  void ReapOwnLeaders() {
    std::vector<std::pair<pid_t, int>> exited;
    for (auto& [key, p] : procs_) {
      int st = 0;
      if (p->pid != 0 && waitpid(p->pid, &st, WNOHANG) == p->pid) exited.emplace_back(p->pid, st);
    }
    for (auto [pid, st] : exited) Dispatch(pid, st);
  }

  // A claimed zombie hides the others from waitid(P_ALL): reap ours and the
  // unclaimed orphans one by one until its waiter has collected it.
  void ReapAroundClaimed() {
    ReapOwnLeaders();
    for (const auto& ps : ListProcesses()) {
      int st = 0;
      if (ps.ppid == getpid() && ps.state == 'Z' && !children::IsClaimed(ps.pid) &&
          waitpid(ps.pid, &st, WNOHANG) == ps.pid)
        Dispatch(ps.pid, st);
    }
  }

  // Orphans reparented to us are reaped and otherwise ignored.
  void Dispatch(pid_t pid, int wait_status) {
    for (auto& [key, p] : procs_)
      if (p->pid == pid) {
        OnLeaderExit(*p, wait_status);
        return;
      }
  }

  void OnLeaderExit(Proc& p, int wait_status) {
    const int64_t now = Now();
    DrainStreams(p);
    p.pid = 0;
    p.status.pid = 0;
    p.probe.reset();
    state_dirty_ = true;
    if (p.stopping) return;  // AdvanceStop sees it
    const bool was_starting = p.status.state == ProcState::kStarting;
    p.status.settled = false;
    p.status.last_run_ms = now - p.started_mono;
    // An app that died while starting may have failed to bind (EADDRINUSE):
    // a stranger on its port is a clash, not a crash.
    if (p.clash.empty() && was_starting && p.spec.port != 0 && !p.killed_not_ready) {
      PortOwner owner;
      if (CheckListener(p.spec.port, p.pgid, &owner, TrackedPids(p)) == ListenerCheck::kStranger)
        p.clash = "port clash: " + owner.Describe(p.spec.port);
    }
    // The rest of the group must not outlive its leader; SIGKILL follows
    // before the respawn if needed.
    if (!GroupGone(p)) SignalInstance(p, SIGTERM);
    if (!p.clash.empty()) {
      RestartDecision d;
      d.failed = true;
      d.quick_crashes = p.quick_crashes;
      d.cause = d.reason = p.clash;
      p.status.port_clash = true;
      ApplyDecision(p, d, now);
      return;
    }
    RunOutcome o;
    o.run_ms = now - p.started_mono;
    o.wait_status = wait_status;
    o.not_ready = p.killed_not_ready;
    o.ready_timeout_ms = p.spec.ready_timeout_ms;
    o.quick_crashes = p.quick_crashes;
    RestartDecision d = DecideRestart(policy_, o, now, Uniform());
    if (o.not_ready) {
      // Which port, and what the probe last saw: "connection refused" and
      // "answered 500" need different fixes.
      std::string cause = fmt::format("not ready on port {} after {}", p.spec.port, FormatDurationMs(o.ready_timeout_ms));
      if (!p.probe_error.empty()) cause += " (last probe: " + p.probe_error + ")";
      d.reason.replace(0, d.cause.size(), cause);
      d.cause = cause;
    }
    ApplyDecision(p, d, now);
  }

  void ApplyDecision(Proc& p, const RestartDecision& d, int64_t now) {
    p.quick_crashes = d.quick_crashes;
    p.killed_not_ready = false;
    p.status.last_error = d.cause;
    p.status.crash_loop = d.crash_loop;
    if (d.failed) {
      p.status.state = ProcState::kFailed;
      if (!GroupGone(p)) SignalInstance(p, SIGKILL);
      log::Error("giving up", {{"instance", p.spec.key.ToString()}, {"reason", d.reason}});
    } else {
      p.status.state = ProcState::kBackoff;
      p.spawn_pending = true;
      p.spawn_at = d.restart_at_ms;
      p.status.next_restart_unix_ms = WallNow() + (d.restart_at_ms - now);
      log::Warn("crashed", {{"instance", p.spec.key.ToString()}, {"reason", d.reason}});
    }
    Report(p);
  }

  int64_t NextDeadline(int64_t now) const {
    int64_t next = now + kMaxPollMs;
    for (const auto& [key, pp] : procs_) {
      const Proc& p = *pp;
      if (p.stopping) {
        next = std::min(next, !p.term_sent ? p.drain_until : !p.kill_sent ? p.kill_at : p.give_up_at);
      } else if (p.spawn_pending) {
        next = std::min(next, p.spawn_at);
      } else if (p.pid != 0 && p.status.state == ProcState::kStarting) {
        next = std::min({next, p.started_mono + p.spec.ready_timeout_ms, p.probe ? p.probe_deadline : p.next_probe_at});
      } else if (p.pid != 0 && p.status.state == ProcState::kReady && !p.status.settled) {
        next = std::min(next, p.ready_mono + p.spec.min_uptime_ms);
      }
    }
    return next;
  }

  void PollOnce(int64_t deadline) {
    struct Target {
      Proc* proc;
      int what;  // 0 wake, 1 stdout, 2 stderr, 3 probe
    };
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
    std::vector<Target> targets{{nullptr, 0}};
    for (auto& [key, p] : procs_) {
      if (p->out.fd >= 0) fds.push_back({p->out.fd, POLLIN, 0}), targets.push_back({p.get(), 1});
      if (p->err.fd >= 0) fds.push_back({p->err.fd, POLLIN, 0}), targets.push_back({p.get(), 2});
      if (p->probe && p->probe->state() == ProbeState::kPending)
        fds.push_back({p->probe->fd(), p->probe->events(), 0}), targets.push_back({p.get(), 3});
    }
    int timeout = static_cast<int>(std::clamp<int64_t>(deadline - Now(), 0, kMaxPollMs));
    if (poll(fds.data(), fds.size(), timeout) <= 0) return;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Target t = targets[i];
      if (t.what == 0) {
        uint64_t v;
        ssize_t n = read(wake_fd_, &v, sizeof v);
        (void)n;
      } else if (t.what == 3) {
        t.proc->probe->OnEvents(fds[i].revents);
        OnProbeProgress(*t.proc, Now());
      } else {
        ReadStream(*t.proc, t.what == 1 ? t.proc->out : t.proc->err);
      }
    }
  }

  // Reads what is there (up to a budget); closes the stream at EOF.
  void ReadStream(Proc& p, Stream& s) {
    if (s.fd < 0) return;
    char buf[16 * 1024];
    std::vector<std::string> lines;
    size_t total = 0;
    bool eof = false;
    while (total < kReadBudget) {
      ssize_t n = read(s.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        eof = true;
        break;
      }
      total += static_cast<size_t>(n);
      s.split.Feed(std::string_view(buf, static_cast<size_t>(n)), lines);
    }
    if (eof) {
      s.split.Flush(lines);
      close(s.fd);
      s.fd = -1;
    }
    EmitLines(p, s.name, lines);
  }

  void EmitLines(Proc& p, const char* stream, std::vector<std::string>& lines) {
    if (lines.empty()) return;
    const int64_t wall = WallNow();
    std::string bytes;
    for (auto& text : lines) bytes += FormatLogLine(wall, stream, text);
    if (p.log) {
      Status s = p.log->Append(bytes);
      if (!s.ok() && !p.log_failed) {
        p.log_failed = true;
        log::Error("cannot write log file", {{"instance", p.spec.key.ToString()}, {"error", s.ToString()}});
      }
    }
    std::lock_guard lock(mu_);
    auto& ring = tails_.at(p.spec.key);
    for (auto& text : lines) {
      LogLine l{p.spec.key, stream, std::move(text), wall};
      ring.Push(l);
      pending_logs_.push_back(std::move(l));
    }
  }

  void DrainStreams(Proc& p) {
    ReadStream(p, p.out);
    ReadStream(p, p.err);
  }

  // A grandchild may hold the pipe open forever: we stop reading at the
  // next run or at stop, keeping the unterminated rest as a line.
  void CloseStreams(Proc& p) {
    for (Stream* s : {&p.out, &p.err}) {
      if (s->fd < 0) continue;
      close(s->fd);
      s->fd = -1;
      std::vector<std::string> lines;
      s->split.Flush(lines);
      EmitLines(p, s->name, lines);
    }
  }

  void Report(const Proc& p) {
    {
      std::lock_guard lock(mu_);
      statuses_[p.spec.key] = p.status;
    }
    pending_changes_.push_back(p.status);
  }

  // Delivers what the last steps produced, with no lock held around the
  // callbacks or the state file write.
  void Publish() {
    if (state_dirty_) {
      state_dirty_ = false;
      WriteState();
    }
    std::vector<ProcStatus> changes;
    changes.swap(pending_changes_);
    for (const auto& st : changes)
      if (on_change_) on_change_(st);
    std::vector<LogLine> logs;
    {
      std::lock_guard lock(mu_);
      logs.swap(pending_logs_);
    }
    if (!logs.empty()) {
      std::lock_guard lock(subs_mu_);
      for (const auto& l : logs)
        for (const auto& [id, fn] : subs_) fn(l);
    }
    // Removed from List() only after the kStopped callback.
    auto finished = std::move(finished_);
    finished_.clear();
    for (auto& [key, waiters] : finished) {
      {
        std::lock_guard lock(mu_);
        statuses_.erase(key);
        auto t = tails_.find(key);
        if (t != tails_.end()) {
          std::erase_if(stopped_tails_, [&](const auto& kt) { return kt.first == key; });
          stopped_tails_.emplace_back(key, std::move(t->second));
          if (stopped_tails_.size() > kKeptStoppedTails) stopped_tails_.pop_front();
          tails_.erase(t);
        }
      }
      for (auto& w : waiters) w->set_value();
    }
  }

  void WriteState() {
    if (opts_.state_file.empty()) return;
    std::vector<RunningEntry> entries;
    for (const auto& [key, p] : procs_)
      if (p->pid != 0 || !p->tracker.tracked().empty()) {
        RunningEntry e{key.ToString(), p->pid, p->pgid, p->start_time, {}};
        e.others.assign(p->tracker.tracked().begin(), p->tracker.tracked().end());
        entries.push_back(std::move(e));
      }
    Status s = WriteStateFile(opts_.state_file, entries);
    if (!s.ok()) log::Error("cannot write the state file", {{"error", s.ToString()}});
  }

  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  const SupervisorOptions opts_;
  const OnChange on_change_;
  const int wake_fd_;
  RestartPolicy policy_;
  std::thread owner_;

  mutable std::mutex mu_;
  std::deque<Command> commands_;                          // GUARDED_BY(mu_)
  std::map<InstanceKey, ProcStatus> statuses_;            // GUARDED_BY(mu_)
  std::map<InstanceKey, TailRing<LogLine>> tails_;        // GUARDED_BY(mu_)
  std::deque<std::pair<InstanceKey, TailRing<LogLine>>> stopped_tails_;  // newest last; GUARDED_BY(mu_)
  std::vector<LogLine> pending_logs_;                     // GUARDED_BY(mu_)

  std::mutex subs_mu_;  // held while callbacks run, so Unsubscribe waits for them
  std::map<uint64_t, OnLog> subs_;
  uint64_t next_sub_ = 0;

  // Owner thread only.
  std::map<InstanceKey, std::unique_ptr<Proc>> procs_;
  std::vector<ProcStatus> pending_changes_;
  std::vector<std::pair<InstanceKey, std::vector<std::shared_ptr<std::promise<void>>>>> finished_;
  bool state_dirty_ = false;
  std::mt19937_64 rng_;
  OrphanScanner orphans_{opts_.drone_name, opts_.cgroups ? opts_.cgroups->base() : std::string()};
  int64_t next_orphan_scan_ = 0;
  LogLimiter escaped_log_{1'000}, orphan_log_{1'000};
};

}  // namespace

Result<std::unique_ptr<Supervisor>> Supervisor::Start(SupervisorOptions opts, OnChange on_change) {
  if (!opts.state_file.empty()) {
    auto entries = ReadStateFile(opts.state_file);
    if (!entries.ok()) {
      // A torn or foreign file must not keep the drone down; nothing in it
      // can be trusted, so nothing is killed.
      log::Warn("ignoring the state file", {{"path", opts.state_file}, {"error", entries.status().ToString()}});
    } else if (!entries->empty()) {
      int n = StopLeftovers(*entries, opts.term_timeout_ms, [](const std::string& line) { log::Info(line); },
                            opts.drone_name);
      log::Info("left-over processes handled", {{"entries", entries->size()}, {"stopped", n}});
    }
    Status s = WriteStateFile(opts.state_file, {});
    if (!s.ok()) return s;
  }
  if (opts.cgroups) {
    const auto left = opts.cgroups->KillLeftovers();
    metrics::CountLeftoverCgroups(left.size());
    for (const auto& name : left) log::Warn("killed what a previous run left in an instance's cgroup", {{"cgroup", name}});
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return Status::Internal(fmt::format("eventfd: {}", std::strerror(errno)));
  return std::unique_ptr<Supervisor>(new SupervisorImpl(std::move(opts), std::move(on_change), wake));
}

}  // namespace skyport::drone
