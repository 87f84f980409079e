#include "cli/supervise.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/errors.h"
#include "cli/process.h"
#include "cli/supervise_policy.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/lease_keeper.h"
#include "core/port_owner.h"
#include "core/proc_stat.h"
#include "rpc/lease_shell.h"

namespace skyport::cli {
namespace {

constexpr int64_t kGraceMs = 5'000;  // SIGTERM -> SIGKILL
constexpr int kReadyProbeMs = 250;   // one connect attempt
constexpr int64_t kReadyPollMs = 100;

sigset_t SupervisedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set, sig);
  return set;
}

int64_t MonoMs() { return SystemClock::Get()->MonoMs(); }

bool Transient(Code c) {
  return c == Code::kUnavailable || c == Code::kDeadlineExceeded || c == Code::kCancelled ||
         c == Code::kAborted || c == Code::kResourceExhausted || c == Code::kInternal ||
         c == Code::kUnknown;
}

void Say(const std::string& line) { std::cerr << "skyport: " << line << std::endl; }

// The lease calls over the CLI's client (its per-call deadline, no waiting
// for the registry: signals wait while a call is in flight).
class ClientLeaseCalls final : public rpc::LeaseCalls {
 public:
  explicit ClientLeaseCalls(RegistryClient& client) : client_(client) {}
  Result<uint64_t> Grant(uint32_t ttl_seconds) override {
    auto g = client_.Grant(ttl_seconds);
    if (!g.ok()) return g.status();
    return g->lease_id();
  }
  Status KeepAlive(uint64_t lease) override { return client_.KeepAlive(lease); }
  Result<uint64_t> Register(const v1::Endpoint& endpoint) override {
    auto r = client_.Register(endpoint);
    if (!r.ok()) return r.status();
    return r->id();
  }
  Result<uint32_t> Revoke(uint64_t lease) override {
    auto r = client_.Revoke(lease);
    if (!r.ok()) return r.status();
    return r->removed();
  }
  Result<std::vector<v1::Endpoint>> Entries(uint64_t lease) override {
    v1::QueryRequest req;
    req.set_lease_id(lease);
    auto r = client_.Query(req);
    if (!r.ok()) return r.status();
    return std::vector<v1::Endpoint>(r->endpoints().begin(), r->endpoints().end());
  }

 private:
  RegistryClient& client_;
};

// The keep-alive interval and the backoff of `register -- CMD`: retries start
// at 200 ms and never wait longer than 5 s or one interval.
LeaseTiming SuperviseTiming(uint32_t ttl_seconds) {
  LeaseTiming t = LeaseTimingFor(ttl_seconds);
  t.backoff.initial_ms = 200;
  t.backoff.max_ms = std::min<int64_t>(5'000, t.keepalive_ms);
  return t;
}

class Supervisor {
 public:
  Supervisor(RegistryClient& client, const SuperviseSpec& spec)
      : client_(client),
        spec_(spec),
        calls_(client),
        lease_(&calls_, &random_, spec.ttl_seconds, SuperviseTiming(spec.ttl_seconds), spec.lease_id, MonoMs()) {
    // A KeepAlive stuck for the whole TTL is as good as a lost one, and
    // signals wait while an RPC is in flight.
    client_.set_timeout_ms(
        std::min(client_.timeout_ms(), std::max<int64_t>(1'000, lease_.keeper().interval_ms())));
  }

  int Run() {
    // Orphans of CMD (its children, once CMD dies) come to us, not to a PID 1
    // that may never reap them.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const v1::Endpoint& ep = spec_.endpoint;
    auto env = ChildEnv(CurrentEnv(), {{"PORT", std::to_string(ep.port())},
                                       {"SKYPORT_APP", ep.app()},
                                       {"SKYPORT_COMMIT", ep.commit()},
                                       {"SKYPORT_ROLE", ep.role()},
                                       {"SKYPORT_INSTANCE", std::to_string(ep.instance())}});
    auto pid = SpawnInGroup(spec_.command, env);
    if (!pid.ok()) {
      Say(pid.status().message());
      return Finish(127);  // as a shell does for a command it cannot run
    }
    pid_ = *pid;
    auto guardian = SpawnGroupGuardian(pid_);
    if (guardian.ok())
      guardian_ = *guardian;
    else
      Say("warning: no guardian for the command's process group: " + guardian.status().message());
    const int64_t ready_deadline = MonoMs() + spec_.ready_timeout_ms;

    for (;;) {
      Reap();
      if (exited_) break;
      if (stop_signal_ != 0) {
        Say("got " + std::string(strsignal(stop_signal_)) + "; stopping the command");
        StopGroup();
        break;
      }
      int64_t now = MonoMs();
      if (!ready_) {
        if (!spec_.wait_ready) {
          ready_ = true;
        } else if (AcceptsConnections(ep.host(), ep.port(), kReadyProbeMs)) {
          // Someone accepts: the command only if every listener on the port
          // is its own. Another program's server must never be registered
          // as this app (the command may have failed to bind).
          PortOwner owner;
          const ListenerCheck c = CheckListener(ep.port(), pid_, &owner, Orphans());
          if (c == ListenerCheck::kOurs) ready_ = true;
          if (c == ListenerCheck::kStranger) {
            Say(owner.Describe(ep.port()) +
                ", not by the command; stopping it and registering nothing (a command that hands its port to "
                "another service, as `docker run -p`, needs --no-wait)");
            StopGroup();
            CleanupGroup();
            return Finish(kExitFailure);
          }
        } else if (now >= ready_deadline) {
          Say("the command did not accept connections on " + HostPort() + " within " +
              std::to_string(spec_.ready_timeout_ms / 1000) +
              " s (it gets the port in $PORT; see --ready-timeout, --no-wait); stopping it");
          StopGroup();
          CleanupGroup();
          return Finish(kExitFailure);
        }
        now = MonoMs();
      }
      if (!StepLease(now)) {
        StopGroup();
        CleanupGroup();
        return Finish(kExitFailure);
      }
      WaitSignal(NextWakeMs(MonoMs()));
    }

    int code = ExitCodeFromWaitStatus(wait_status_);
    if (stop_signal_ == 0 && !ready_)
      Say("the command exited (code " + std::to_string(code) +
          ") before accepting connections on " + HostPort() + "; not registered");
    else if (stop_signal_ == 0 && code != 0)
      Say("the command exited with code " + std::to_string(code));
    CleanupGroup();
    return Finish(code);
  }

 private:
  std::string HostPort() const {
    return spec_.endpoint.host() + ":" + std::to_string(spec_.endpoint.port());
  }

  bool NeedRegister() const { return ready_ && id_ == 0; }

  // Processes of the command that left its group and were orphaned to us
  // (we are their subreaper): their listeners are the command's too.
  std::vector<pid_t> Orphans() const {
    std::vector<pid_t> out;
    for (const ProcStat& p : ListProcesses())
      if (p.ppid == getpid() && p.pid != pid_ && p.pid != guardian_ && p.state != 'Z') out.push_back(p.pid);
    return out;
  }

  int64_t NextWakeMs(int64_t now) const {
    int64_t wake = std::min(lease_.keeper().WakeAt(now, NeedRegister()), now + 1'000);
    if (!ready_) wake = std::min(wake, now + kReadyPollMs);
    return std::max<int64_t>(0, wake - now);
  }

  // Sleeps until a supervised signal arrives or `ms` pass.
  void WaitSignal(int64_t ms) {
    sigset_t set = SupervisedSignals();
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      ++signals_seen_;
      if (stop_signal_ == 0) stop_signal_ = sig;
    }
  }

  // We are a subreaper: reap everything, remember CMD's status.
  void Reap() {
    int st = 0;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p == pid_) {
        exited_ = true;
        wait_status_ = st;
      } else if (p == guardian_) {
        guardian_reaped_ = true;
      }
    }
  }

  // SIGTERM to CMD's group; SIGKILL after the grace period or a second signal.
  void StopGroup() {
    if (exited_) return;
    killpg(pid_, SIGTERM);
    int64_t deadline = MonoMs() + kGraceMs;
    const int seen = signals_seen_;
    for (;;) {
      Reap();
      if (exited_) return;
      int64_t left = deadline - MonoMs();
      if (left <= 0 || signals_seen_ > seen) break;  // a second signal: no more waiting
      WaitSignal(std::min<int64_t>(left, kReadyPollMs));
    }
    Say(signals_seen_ > seen ? "second signal: sending SIGKILL to the command's process group"
                             : "the command did not stop within 5 s of SIGTERM; sending SIGKILL");
    killpg(pid_, SIGKILL);
    int st = 0;
    while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    wait_status_ = st;
  }

  // CMD is gone but its group may live on (daemonized children holding the
  // port): they go the same way, and so do the daemons that left the group
  // (orphaned to us) with their descendants: whatever counted as the
  // command's listener must not keep the port once the lease frees it.
  void CleanupGroup() {
    auto escaped = [this] { return ProcessTree(0, Orphans()); };
    auto signal_all = [&](int sig) {
      killpg(pid_, sig);
      for (pid_t p : escaped()) kill(p, sig);
    };
    auto alive = [&] { return killpg(pid_, 0) == 0 || !escaped().empty(); };
    if (!alive()) return;
    signal_all(SIGTERM);
    int64_t deadline = MonoMs() + kGraceMs;
    while (MonoMs() < deadline) {
      Reap();
      if (!alive()) return;
      WaitSignal(kReadyPollMs);
    }
    signal_all(SIGKILL);
    Reap();
  }

  // Makes the lease call that is due (grant, keep alive, register once CMD
  // is ready); false on an error that retrying cannot fix.
  bool StepLease(int64_t now) {
    v1::Endpoint ep = spec_.endpoint;
    ep.set_pid(pid_);
    const rpc::LeaseTurn t = lease_.Step(now, NeedRegister() ? &ep : nullptr);
    const Status& s = t.status;
    switch (t.step) {
      case LeaseStep::kWait:
        return true;
      case LeaseStep::kGrant:
        if (t.outcome == LeaseOutcome::kOk) {
          id_ = 0;
          Recovered(t);
        } else {
          Retry("grant a lease", s, t);
        }
        return true;
      case LeaseStep::kKeepAlive:
        if (t.outcome == LeaseOutcome::kOk) {
          Recovered(t);
        } else if (t.outcome == LeaseOutcome::kLost) {
          Say("lease " + std::to_string(t.lease) + " is gone (" + s.ToString() +
              "); granting a new one and registering again");
          id_ = 0;
        } else {
          Retry("keep lease " + std::to_string(t.lease) + " alive", s, t);
        }
        return true;
      case LeaseStep::kRegister:
        if (t.outcome == LeaseOutcome::kOk) {
          id_ = t.entry_id;
          registered_once_ = true;
          Recovered(t);
          Announce();
          return true;
        }
        if (t.outcome == LeaseOutcome::kLost) return true;  // the lease vanished in between
        if (!registered_once_ && !Transient(s.code())) {
          std::cerr << FormatRpcError("register " + ep.app() + "@" + ep.commit() + " " + ep.role(), s,
                                      spec_.registry)
                    << std::endl;
          return false;
        }
        Retry("register", s, t);
        return true;
      case LeaseStep::kAudit:
        if (t.outcome == LeaseOutcome::kLost) {
          id_ = 0;
          return true;
        }
        if (t.outcome != LeaseOutcome::kOk) return true;  // tried again at the next audit
        Audit(t);
        return true;
    }
    return true;
  }

  // What the registry holds under the lease against what we registered: a
  // store restored from a backup may have lost the entry (register again) or
  // kept one we never had (only ours counts: it goes).
  void Audit(const rpc::LeaseTurn& t) {
    const EntryAudit a = AuditEntries(id_ != 0 ? std::vector<uint64_t>{id_} : std::vector<uint64_t>{}, t.held);
    if (!a.missing.empty()) {
      Say("the registry no longer holds entry " + std::to_string(id_) + " under lease " + std::to_string(t.lease) +
          " (a restored store?); registering again");
      id_ = 0;
    }
    for (uint64_t stray : a.unknown) {
      Say("the registry holds entry " + std::to_string(stray) + " under lease " + std::to_string(t.lease) +
          " that is not ours; deregistering it");
      if (Status s = client_.Deregister(stray); !s.ok() && s.code() != Code::kNotFound)
        std::cerr << FormatRpcError("deregister " + std::to_string(stray), s, spec_.registry) << std::endl;
    }
  }

  // Warns once per outage (and when the error changes); the keeper backs off.
  void Retry(const std::string& what, const Status& s, const rpc::LeaseTurn& t) {
    if (t.failures_before == 0 || s.code() != last_code_)
      std::cerr << FormatRpcError(what, s, spec_.registry)
                << "\nskyport: retrying while the command runs" << std::endl;
    last_code_ = s.code();
  }

  void Recovered(const rpc::LeaseTurn& t) {
    if (t.failures_before > 0) Say("registry reachable again");
  }

  void Announce() {
    const v1::Endpoint& ep = spec_.endpoint;
    if (spec_.json) {
      std::cout << nlohmann::json{{"id", id_}, {"app", ep.app()}, {"commit", ep.commit()},
                                  {"role", ep.role()}, {"host", ep.host()}, {"port", ep.port()},
                                  {"lease", lease_.lease()}, {"pid", pid_}}
                       .dump()
                << std::endl;
    } else {
      Say("registered " + ep.app() + "@" + ep.commit() + " " + ep.role() + " at " + HostPort() +
          " as id " + std::to_string(id_) + " (lease " + std::to_string(lease_.lease()) + ", pid " +
          std::to_string(pid_) + ")");
    }
  }

  // Frees the entry and the port with the lease; returns `code`.
  int Finish(int code) {
    StopGuardian(guardian_, guardian_reaped_);
    if (const uint64_t lease = lease_.lease(); lease != 0) {
      auto r = client_.Revoke(lease);
      if (!r.ok() && r.status().code() != Code::kNotFound)
        std::cerr << FormatRpcError("revoke lease " + std::to_string(lease), r.status(),
                                    spec_.registry)
                  << "\nskyport: the entry will expire with its " << spec_.ttl_seconds
                  << " s TTL" << std::endl;
    }
    return code;
  }

  RegistryClient& client_;
  SuperviseSpec spec_;
  SystemRandom random_;
  ClientLeaseCalls calls_;
  rpc::LeaseShell lease_;  // the lease (0: none, grant one), when to keep it alive, backoff
  pid_t pid_ = 0;
  pid_t guardian_ = 0;  // kills CMD's group if we are killed (see process.h)
  bool guardian_reaped_ = false;
  bool exited_ = false;
  int wait_status_ = 0;
  int stop_signal_ = 0;
  int signals_seen_ = 0;
  bool ready_ = false;
  uint64_t id_ = 0;     // 0: not registered under the current lease
  bool registered_once_ = false;
  Code last_code_ = Code::kOk;
};

}  // namespace

void BlockSupervisorSignals() {
  sigset_t set = SupervisedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int Supervise(RegistryClient& client, const SuperviseSpec& spec) {
  Supervisor supervisor(client, spec);
  return supervisor.Run();
}

}  // namespace skyport::cli
