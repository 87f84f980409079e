#include "drone/instance_runner.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/port_owner.h"
#include "drone/ready_watch.h"

namespace skyport::drone {
namespace {


}  // namespace

InstanceRunner::InstanceRunner(InstanceRunnerOptions o, Supervisor& supervisor, RegistryLink& registry,
                               const AppLaunch& launch, DeployLocks& locks,
                               std::function<void(std::function<void()>)> later)
    : o_(std::move(o)), supervisor_(supervisor), registry_(registry), launch_(launch), locks_(locks),
      later_(std::move(later)), ports_(o_.port_clash_retries, [](uint32_t port) { return PortIsFree(port); }) {}

Status InstanceRunner::StartOne(const DeployOrder& order, const AppSpec& spec, const std::string& dir,
                                const std::string& role, uint32_t instance, const ProgressFn& progress,
                                std::set<InstanceKey>* started) {
  const RoleSpec& rs = spec.roles.at(role);
  InstanceKey key{order.app, order.commit, role, instance};
  // A failed instance from an earlier deploy makes way for this one.
  (void)supervisor_.Stop(key, 0);
  ProcessSpec ps;
  ps.key = key;
  ps.command = rs.command;
  ps.cwd = dir;
  ps.health_path = rs.health_path;
  ps.ready_timeout_ms = o_.ready_timeout_ms;
  auto runtime = launch_.RuntimeFor(order.app, spec);
  if (!runtime.ok()) return runtime.status();
  const AppRuntime& rt = *runtime;
  ps.setup = rt.setup;
  ps.cgroup_limits = rt.cgroup;
  ps.stop_timeout_ms = rt.stop_timeout_ms;
  std::map<std::string, std::string> sky = {{"SKYPORT_APP", order.app}, {"SKYPORT_COMMIT", order.commit},
                                            {"SKYPORT_ROLE", role}, {"SKYPORT_INSTANCE", std::to_string(instance)},
                                            {"SKYPORT_DRONE", o_.name}};
  ps.env = launch_.Env(dir, order.env, sky);
  ps.min_uptime_ms = spec.min_uptime_ms >= 0 ? spec.min_uptime_ms : o_.min_uptime_ms;
  if (rs.port) {
    std::vector<uint32_t> avoid;
    if (Status s = ClaimPort(ps, &avoid); !s.ok()) return s;
    std::lock_guard lock(mu_);
    avoid_[key] = std::move(avoid);
  }
  {
    std::lock_guard lock(mu_);
    specs_[key] = ps;
    running_specs_[key] = ps;
    launched_[key] = LaunchEnv{order.env, order.config_version};
    // A replacement (rolling restart) registers with its commit's deploy time, not its own start.
    if (auto it = endpoints_.find(key); it != endpoints_.end() && order.deployed_unix_ms > 0)
      it->second.set_registered_unix_ms(order.deployed_unix_ms);
  }
  if (Status s = supervisor_.Run(ps); !s.ok()) return s;
  started->insert(key);
  progress(DeployStage::kStarting, rs.port ? fmt::format("{} starting on port {}", key.ToString(), ps.port)
                                           : fmt::format("{} starting (worker)", key.ToString()));
  return Status::Ok();
}

RollPlan InstanceRunner::PlanFor(const DeployOrder& order, const std::string& role) {
  std::vector<LiveInstance> live;
  for (const auto& p : supervisor_.List()) {
    if (p.key.app != order.app || p.key.commit != order.commit || p.key.role != role) continue;
    if (p.state == ProcState::kFailed || p.state == ProcState::kStopped || p.state == ProcState::kStopping) continue;
    bool current = true;  // an instance we know nothing of is left alone
    {
      std::lock_guard lock(mu_);
      if (auto it = launched_.find(p.key); it != launched_.end())
        current = IsCurrent(it->second, LaunchEnv{order.env, order.config_version});
    }
    live.push_back({p.key.instance, current});
  }
  return PlanRoll(live, order.instances);
}

Status InstanceRunner::Start(const DeployOrder& order, const AppSpec& spec, const std::string& dir,
                             const ProgressFn& progress, std::set<InstanceKey>* started) {
  // Failed instances serve nothing; their numbers are free for new ones.
  for (const auto& p : supervisor_.List())
    if (p.key.app == order.app && p.key.commit == order.commit && p.state == ProcState::kFailed)
      (void)supervisor_.Stop(p.key, 0);
  for (const auto& [role, rs] : spec.roles) {
    const RollPlan plan = PlanFor(order, role);
    for (uint32_t n : plan.keep) started->insert(InstanceKey{order.app, order.commit, role, n});
    for (uint32_t n : plan.start_now)
      if (Status s = StartOne(order, spec, dir, role, n, progress, started); !s.ok()) return s;
  }
  return Status::Ok();
}

Status InstanceRunner::Roll(const DeployOrder& order, const AppSpec& spec, const std::string& dir,
                            const DeployRun& run, const ProgressFn& progress, std::set<InstanceKey>* started) {
  for (const auto& [role, rs] : spec.roles) {
    const RollPlan plan = PlanFor(order, role);
    for (const RollStep& step : plan.roll) {
      const InstanceKey old_key{order.app, order.commit, role, step.retire};
      std::set<InstanceKey> fresh;
      if (Status s = StartOne(order, spec, dir, role, step.start, progress, &fresh); !s.ok()) {
        started->insert(fresh.begin(), fresh.end());
        return s;
      }
      started->insert(fresh.begin(), fresh.end());
      if (Status s = AwaitReady(fresh, run, progress); !s.ok()) return s;
      progress(DeployStage::kRegistered,
               fmt::format("{} ready; replacing {} (deregistered, drained, stopped)", fresh.begin()->ToString(),
                           old_key.ToString()));
      Retire(old_key);
      // The step is done: a later step's failure must not stop this one
      // too (StopStarted), which would leave fewer instances than before.
      std::lock_guard lock(mu_);
      for (const auto& key : fresh) {
        specs_.erase(key);
        avoid_.erase(key);
      }
    }
    for (uint32_t n : plan.retire) Retire(InstanceKey{order.app, order.commit, role, n});
  }
  return Status::Ok();
}

void InstanceRunner::Retire(const InstanceKey& key) {
  DeregisterForStop(key);
  (void)supervisor_.Stop(key, o_.drain_ms);
}

bool InstanceRunner::Runs(const std::string& app, const std::string& commit) {
  for (const auto& p : supervisor_.List())
    if (p.key.app == app && p.key.commit == commit && p.state != ProcState::kFailed &&
        p.state != ProcState::kStopped && p.state != ProcState::kStopping)
      return true;
  return false;
}

void InstanceRunner::StopStarted(const std::set<InstanceKey>& started) {
  std::vector<InstanceKey> fresh;
  {
    std::lock_guard lock(mu_);
    for (const auto& key : started)
      if (specs_.count(key)) fresh.push_back(key);
  }
  std::vector<std::thread> stops;
  for (const auto& key : fresh) stops.emplace_back([this, key] { Retire(key); });
  for (auto& t : stops) t.join();
}

uint64_t InstanceRunner::ConfigVersion(const InstanceKey& key) {
  std::lock_guard lock(mu_);
  auto it = launched_.find(key);
  return it == launched_.end() ? 0 : it->second.config_version;
}

Status InstanceRunner::ClaimPort(ProcessSpec& ps, std::vector<uint32_t>* avoid) {
  const InstanceKey& key = ps.key;
  auto port = ports_.Claim(
      key, [&](const std::vector<uint32_t>& a) { return registry_.Allocate(o_.advertise, key, 10'000, a); }, avoid);
  if (!port.ok()) return port.status();
  ps.port = *port;
  ps.env["PORT"] = std::to_string(*port);
  v1::Endpoint ep;
  ep.set_app(key.app);
  ep.set_commit(key.commit);
  ep.set_role(key.role);
  ep.set_instance(key.instance);
  ep.set_host(o_.advertise);
  ep.set_port(*port);
  ep.set_drone(o_.name);
  ep.set_health(v1::HEALTH_PASSING);
  std::lock_guard lock(mu_);
  if (auto it = endpoints_.find(key); it != endpoints_.end())  // a move off a port clash keeps it
    ep.set_registered_unix_ms(it->second.registered_unix_ms());
  endpoints_[key] = ep;
  return Status::Ok();
}

Status InstanceRunner::MoveOffClash(const ProgressFn& progress, const ProcStatus& p) {
  ProcessSpec ps;
  std::vector<uint32_t> avoid;
  {
    std::lock_guard lock(mu_);
    auto it = specs_.find(p.key);
    if (it == specs_.end()) return Status::FailedPrecondition(fmt::format("{}: {}", p.key.ToString(), p.last_error));
    ps = it->second;
    avoid = avoid_[p.key];
  }
  if (!ports_.NoteClash(p.key, p.port, p.last_error, &avoid))
    return Status::ResourceExhausted(fmt::format("{}: {}; gave up after {} ports taken (--port-clash-retries)",
                                                 p.key.ToString(), p.last_error, avoid.size()));
  (void)supervisor_.Stop(p.key, 0);  // kStopped releases the old port
  if (Status s = ClaimPort(ps, &avoid); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    avoid_[p.key] = avoid;
    specs_[p.key] = ps;
    running_specs_[p.key] = ps;
  }
  if (Status s = supervisor_.Run(ps); !s.ok()) return s;
  progress(DeployStage::kStarting,
           fmt::format("{} {}; starting again on port {}", p.key.ToString(), p.last_error, ps.port));
  return Status::Ok();
}

void InstanceRunner::MoveOffClashLater(const InstanceKey& key) {
  std::lock_guard deploy_lock(locks_.Lock(key.app, key.commit));
  ProcessSpec ps;
  {
    std::lock_guard lock(mu_);
    auto it = running_specs_.find(key);
    if (stopping_ || specs_.count(key) || it == running_specs_.end()) return;  // a deploy handles its own
    ps = it->second;
  }
  std::optional<ProcStatus> now;
  for (auto& p : supervisor_.List())
    if (p.key == key) now = p;
  if (!now || now->state != ProcState::kFailed || !now->port_clash) return;  // stopped or moved meanwhile
  std::vector<uint32_t> avoid;
  if (!ports_.NoteClash(key, now->port, now->last_error, &avoid)) return;
  (void)supervisor_.Stop(key, 0);  // kStopped releases the old port
  if (Status s = ClaimPort(ps, &avoid); !s.ok()) {
    log::Warn("port clash: no other port for the instance", {{"instance", key.ToString()}, {"error", s.message()}});
    return;
  }
  {
    std::lock_guard lock(mu_);
    running_specs_[key] = ps;
  }
  if (Status s = supervisor_.Run(ps); !s.ok())
    log::Warn("port clash: cannot start the instance again", {{"instance", key.ToString()}, {"error", s.message()}});
  else
    log::Info("port clash: instance starting again on another port",
              {{"instance", key.ToString()}, {"old_port", now->port}, {"port", ps.port}});
}

Status InstanceRunner::AwaitReady(const std::set<InstanceKey>& keys, const DeployRun& run,
                                  const ProgressFn& progress) {
  int64_t min_uptime = 0;
  std::set<InstanceKey> fresh;  // started by this deploy (not already running)
  {
    std::lock_guard lock(mu_);
    for (const auto& key : keys)
      if (auto it = specs_.find(key); it != specs_.end()) {
        min_uptime = std::max(min_uptime, it->second.min_uptime_ms);
        fresh.insert(key);
      }
  }
  ReadyWatch watch(keys, std::move(fresh), o_.ready_timeout_ms, min_uptime, MonoNowMs());
  for (;;) {
    std::map<InstanceKey, ProcStatus> now;
    for (auto& p : supervisor_.List()) now[p.key] = p;
    for (const auto& key : watch.keys()) {
      auto it = now.find(key);
      const ProcStatus* p = it == now.end() ? nullptr : &it->second;
      bool wants_port;
      {
        std::lock_guard lock(mu_);
        wants_port = endpoints_.count(key) > 0;
      }
      auto look = watch.See(key, p, wants_port, wants_port && registry_.IsRegistered(key), progress, o_.advertise);
      if (look.next == ReadyWatch::Next::kFail)
        return WithStderrTail(look.error, key, supervisor_.Tail(key.app, key.commit, key.role, 200));
      if (look.next == ReadyWatch::Next::kMoveOffClash) {
        if (Status s = MoveOffClash(progress, *p); !s.ok()) return s;
        watch.Moved(key, MonoNowMs());
      }
    }
    if (auto verdict = watch.Verdict(MonoNowMs(), run)) return *verdict;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping_; }))
      return Status::Aborted("the drone is shutting down");
  }
}

void InstanceRunner::EndDeploy(const std::set<InstanceKey>& started) {
  std::lock_guard lock(mu_);
  for (const auto& key : started) {
    specs_.erase(key);
    avoid_.erase(key);
  }
}

void InstanceRunner::DeregisterForStop(const InstanceKey& key) {
  // The drain before SIGTERM counts from the entry's removal, which routers see.
  if (!registry_.DeregisterAndWait(key, kDeregisterWaitMs))
    log::Warn("registry did not confirm the deregistration; draining anyway",
              {{"instance", key.ToString()}, {"waited_ms", kDeregisterWaitMs}});
}

void InstanceRunner::StopDeployment(const std::string& app, const std::string& commit) {
  std::vector<std::thread> stops;
  for (const auto& p : supervisor_.List())
    if (p.key.app == app && p.key.commit == commit)
      stops.emplace_back([this, key = p.key] {
        DeregisterForStop(key);
        (void)supervisor_.Stop(key, o_.drain_ms);
      });
  for (auto& t : stops) t.join();
}

void InstanceRunner::BeginShutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

void InstanceRunner::StopAll() {
  for (const auto& p : supervisor_.List()) DeregisterForStop(p.key);
  supervisor_.StopAll(o_.drain_ms);
}

void InstanceRunner::OnChange(const ProcStatus& p) {
  // Traffic only to a settled instance (ready for min-uptime). One that was
  // registered and is not live now (crashed, restarting, crash-looping)
  // stays registered as critical: it takes no traffic, and the router still
  // knows the app is deployed (503, not 404). Stopped: deregistered first.
  const bool live = p.state == ProcState::kReady && p.settled;
  const bool going = p.state == ProcState::kStopping || p.state == ProcState::kStopped;
  if (going) {
    registry_.Deregister(p.key);
  } else if (live || registry_.IsWanted(p.key)) {
    std::optional<v1::Endpoint> ep;
    {
      std::lock_guard lock(mu_);
      if (auto it = endpoints_.find(p.key); it != endpoints_.end()) ep = it->second;
    }
    if (ep) {
      ep->set_pid(p.pid);
      ep->set_health(live ? v1::HEALTH_PASSING : v1::HEALTH_CRITICAL);
      registry_.WantRegistered(p.key, *ep);
    }
  }
  if (p.state == ProcState::kFailed && p.port_clash) {
    bool in_deploy;
    {
      std::lock_guard lock(mu_);
      in_deploy = specs_.count(p.key) > 0;
    }
    if (!in_deploy) later_([this, key = p.key] { MoveOffClashLater(key); });
  }
  if (p.state == ProcState::kStopped) {
    {
      std::lock_guard lock(mu_);
      endpoints_.erase(p.key);
      running_specs_.erase(p.key);
      launched_.erase(p.key);
    }
    registry_.ReleasePort(o_.advertise, p.port);
  }
}

}  // namespace skyport::drone
