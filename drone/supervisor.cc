// The I/O shell around drone/instance_machine.h: the owner thread holds
// every process (Proc) and is the only one to touch them; each Proc's
// InstanceMachine decides, and the shell forks, signals, reaps
// (drone/reaper.h), polls pipes and probes. Other threads post commands
// (under mu_) and read what the owner publishes on the InstanceBoard
// (drone/instance_board.h). Callbacks run on the owner thread with no lock held.
#include "drone/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/children.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "core/names.h"
#include "drone/instance_board.h"
#include "drone/instance_machine.h"
#include "drone/instance_tracker.h"
#include "drone/log_file.h"
#include "drone/metrics.h"
#include "drone/output_pipe.h"
#include "core/port_owner.h"
#include "core/proc_stat.h"
#include "drone/readiness.h"
#include "drone/reaper.h"
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
constexpr size_t kReadBudget = 256 * 1024;  // per stream per wakeup, so one chatty app cannot starve the rest

struct Proc {
  ProcessSpec spec;
  pid_t pid = 0;   // the leader while it is not reaped
  pid_t pgid = 0;  // of the latest run, kept while members may live on
  uint64_t start_time = 0;
  OutputPipe out{"stdout", -1, LineSplitter()}, err{"stderr", -1, LineSplitter()};
  std::unique_ptr<LogFile> log;
  bool log_failed = false;  // said once, not per line
  std::unique_ptr<ReadyProbe> probe;
  std::vector<std::shared_ptr<std::promise<void>>> waiters;
  InstanceTracker tracker;  // what escaped the group: its cgroup, or pids found in /proc
  std::unique_ptr<InstanceIO> io;       // this Proc's, for its machine
  std::unique_ptr<InstanceMachine> m;   // its states and timers (drone/instance_machine.h)
};

// The instance's processes outside its group that the supervisor tracks.
std::vector<pid_t> TrackedPids(const Proc& p) {
  std::vector<pid_t> out;
  for (const auto& [pid, start] : p.tracker.tracked()) out.push_back(pid);
  return out;
}

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

class SupervisorImpl final : public Supervisor {
 public:
  SupervisorImpl(SupervisorOptions opts, OnChange on_change, int wake_fd)
      : opts_(std::move(opts)), on_change_(std::move(on_change)), wake_fd_(wake_fd) {
    policy_.restart.backoff = opts_.restart_backoff;
    policy_.restart.stable_after_ms = opts_.stable_after_ms;
    policy_.restart.max_quick_restarts = opts_.max_quick_restarts;
    policy_.restart.crash_loop_after = opts_.crash_loop_after;
    policy_.stable_after_ms = opts_.stable_after_ms;
    policy_.term_timeout_ms = opts_.term_timeout_ms;
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
    if (!board_.Add(k, spec.port)) return Status::AlreadyExists(k.ToString() + " is already supervised");
    Post(Command{Command::kRun, std::move(spec), {}, 0, nullptr});
    return Status::Ok();
  }

  Status Stop(const InstanceKey& key, int64_t drain_ms) override {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    if (!board_.Has(key)) return Status::NotFound(key.ToString() + " is not supervised");
    Post(Command{Command::kStop, {}, key, drain_ms, done});
    fut.wait();
    return Status::Ok();
  }

  void StopAll(int64_t drain_ms) override {
    std::vector<std::future<void>> futs;
    const auto listed = board_.List();
    {
      std::lock_guard lock(mu_);
      for (const auto& st : listed) {
        const InstanceKey& key = st.key;
        auto done = std::make_shared<std::promise<void>>();
        futs.push_back(done->get_future());
        commands_.push_back(Command{Command::kStop, {}, key, drain_ms, done});
      }
    }
    Wake();
    for (auto& f : futs) f.wait();  // the drains overlap
  }

  std::vector<ProcStatus> List() const override { return board_.List(); }
  std::vector<LogLine> Tail(const std::string& app, const std::string& commit, const std::string& role,
                            size_t n) const override {
    return board_.Tail(app, commit, role, n);
  }
  uint64_t Subscribe(OnLog on_log) override { return board_.Subscribe(std::move(on_log)); }
  void Unsubscribe(uint64_t id) override { board_.Unsubscribe(id); }

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
        if (p->m->Advance(now)) done.push_back(key);
      for (const auto& key : done) FinishStop(key);
      Publish();
      PollOnce(NextDeadline(Now()));
      Publish();
    }
    // Left running on purpose (leave_running_on_destroy): just let go.
    for (auto& [key, p] : procs_) CloseStreams(*p);
  }

  // The machine's view of one Proc: its process group, probe and port.
  class ProcIO final : public InstanceIO {
   public:
    ProcIO(SupervisorImpl& s, Proc& p) : s_(s), p_(p) {}
    bool GroupGone() override { return s_.GroupGone(p_); }
    void Signal(int sig) override { s_.SignalInstance(p_, sig); }
    Result<int64_t> Spawn() override { return s_.SpawnRun(p_); }
    void BeginProbe() override { p_.probe = ReadyProbe::Begin(p_.spec.ready_host, p_.spec.port, p_.spec.health_path); }
    void DropProbe() override { p_.probe.reset(); }
    std::optional<ProbeResult> TakeProbeResult() override {
      if (!p_.probe || p_.probe->state() == ProbeState::kPending) return std::nullopt;
      ProbeResult r{p_.probe->state() == ProbeState::kReady, p_.probe->error()};
      p_.probe.reset();
      return r;
    }
    ListenerCheck CheckListener(std::string* who) override {
      PortOwner owner;
      ListenerCheck c = skyport::CheckListener(p_.spec.port, p_.pgid, &owner, TrackedPids(p_));
      if (c == ListenerCheck::kStranger) *who = owner.Describe(p_.spec.port);
      return c;
    }
    void Report(const ProcStatus& st) override { s_.Report(st); }
    int64_t Pgid() const override { return p_.pgid; }

   private:
    SupervisorImpl& s_;
    Proc& p_;
  };

  void AddProc(ProcessSpec spec) {
    auto p = std::make_unique<Proc>();
    p->spec = std::move(spec);
    p->io = std::make_unique<ProcIO>(*this, *p);
    p->m = std::make_unique<InstanceMachine>(p->spec, policy_, *p->io, random_, *SystemClock::Get(), Now());
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
    p.m->BeginStop(Now(), drain_ms);
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

  // A new run of the instance: its log file, its process group, its pipes.
  Result<int64_t> SpawnRun(Proc& p) {
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
    auto r = SpawnInstance(p);
    if (!r.ok()) return r.status();
    p.pid = p.pgid = r->pid;
    auto st = ReadProcStat(p.pid);
    p.start_time = st.ok() ? st->start_time : 0;
    p.out.fd = r->stdout_fd;
    p.err.fd = r->stderr_fd;
    state_dirty_ = true;
    return static_cast<int64_t>(p.pid);
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
          if (int sig = owner.m->EscapeeSignal(); sig != 0) owner.tracker.Signal(sig);
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

  void FinishStop(const InstanceKey& key) {
    auto it = procs_.find(key);
    Proc& p = *it->second;
    DrainStreams(p);
    CloseStreams(p);
    p.tracker.Release();
    if (p.pid != 0) state_dirty_ = true;
    p.m->MarkStopped();
    log::Info("stopped", {{"instance", key.ToString()}});
    finished_.emplace_back(key, std::move(p.waiters));
    procs_.erase(it);
  }

  void Reap() {
    ReapChildren(
        opts_.reap_all_children,
        [this] {
          std::vector<pid_t> own;
          for (const auto& [key, p] : procs_)
            if (p->pid != 0) own.push_back(p->pid);
          return own;
        },
        [this](pid_t pid, int wait_status) { OnReaped(pid, wait_status); });
  }

  // Orphans reparented to us are reaped and otherwise ignored.
  void OnReaped(pid_t pid, int wait_status) {
    for (auto& [key, p] : procs_)
      if (p->pid == pid) {
        const int64_t now = Now();
        DrainStreams(*p);
        p->pid = 0;
        state_dirty_ = true;
        p->m->OnExit(now, wait_status);
        return;
      }
  }

  int64_t NextDeadline(int64_t now) const {
    int64_t next = now + kMaxPollMs;
    for (const auto& [key, p] : procs_) next = p->m->NextWake(next);
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
        t.proc->m->OnProbeEvent(Now());
      } else {
        ReadStream(*t.proc, t.what == 1 ? t.proc->out : t.proc->err);
      }
    }
  }

  void ReadStream(Proc& p, OutputPipe& s) {
    std::vector<std::string> lines;
    s.Read(kReadBudget, lines);
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
    board_.AddLines(p.spec.key, stream, lines, wall);
  }

  void DrainStreams(Proc& p) {
    ReadStream(p, p.out);
    ReadStream(p, p.err);
  }

  // A grandchild may hold the pipe open forever: we stop reading at the
  // next run or at stop, keeping the unterminated rest as a line.
  void CloseStreams(Proc& p) {
    for (OutputPipe* s : {&p.out, &p.err}) {
      std::vector<std::string> lines;
      s->Close(lines);
      EmitLines(p, s->name, lines);
    }
  }

  void Report(const ProcStatus& st) {
    board_.Set(st);
    pending_changes_.push_back(st);
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
    board_.DeliverLines();
    // Removed from List() only after the kStopped callback.
    auto finished = std::move(finished_);
    finished_.clear();
    for (auto& [key, waiters] : finished) {
      board_.Retire(key);
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

  const SupervisorOptions opts_;
  const OnChange on_change_;
  const int wake_fd_;
  InstancePolicy policy_;
  std::thread owner_;

  InstanceBoard board_{opts_.tail_lines, kKeptStoppedTails};  // what other threads read
  std::mutex mu_;
  std::deque<Command> commands_;  // GUARDED_BY(mu_)


  // Owner thread only.
  std::map<InstanceKey, std::unique_ptr<Proc>> procs_;
  std::vector<ProcStatus> pending_changes_;
  std::vector<std::pair<InstanceKey, std::vector<std::shared_ptr<std::promise<void>>>>> finished_;
  bool state_dirty_ = false;
  SystemRandom random_;  // restart jitter
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
