// A drone's instances between the Supervisor and the registry (Nomad's
// taskrunner): starts a deployment's instances with a port from the
// registry each, waits until they are ready and registered, keeps the
// registry in step with every state change (settled: passing; crashed:
// critical; stopping: deregistered), and moves an instance whose port turns
// out taken by a stranger to another port. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "drone/app_launch.h"
#include "drone/deploy_locks.h"
#include "drone/deploy_pipeline.h"
#include "drone/port_claim.h"
#include "drone/registry_link.h"
#include "drone/rolling_plan.h"
#include "drone/supervisor.h"

namespace skyport::drone {

struct InstanceRunnerOptions {
  std::string name;       // the drone's
  std::string advertise;  // the host registered for the instances
  int64_t drain_ms = 500;
  int64_t ready_timeout_ms = 30'000;
  int64_t min_uptime_ms = 3'000;  // skyport.json's min_uptime_ms overrides it
  int port_clash_retries = 8;
};

class InstanceRunner final : public InstanceStarter {
 public:
  // `later` runs work on a worker thread (or drops it once the drone stops).
  InstanceRunner(InstanceRunnerOptions o, Supervisor& supervisor, RegistryLink& registry, const AppLaunch& launch,
                 DeployLocks& locks, std::function<void(std::function<void()>)> later);

  Status Start(const DeployOrder& order, const AppSpec& spec, const std::string& dir, const ProgressFn& progress,
               std::set<InstanceKey>* started) override;
  Status AwaitReady(const std::set<InstanceKey>& keys, const DeployRun& run,
                    const ProgressFn& progress) override;
  void EndDeploy(const std::set<InstanceKey>& started) override;
  void StopDeployment(const std::string& app, const std::string& commit) override;
  bool Runs(const std::string& app, const std::string& commit) override;
  Status Roll(const DeployOrder& order, const AppSpec& spec, const std::string& dir, const DeployRun& run,
              const ProgressFn& progress, std::set<InstanceKey>* started) override;
  void StopStarted(const std::set<InstanceKey>& started) override;
  // The config version the instance was started with (0: none, or unknown).
  uint64_t ConfigVersion(const InstanceKey& key);

  // The Supervisor's OnChange: the registry follows the instance's state.
  void OnChange(const ProcStatus& p);
  // Deploys waiting for readiness give up ("the drone is shutting down").
  void BeginShutdown();
  // Every instance deregistered (one by one, each acked or timed out), then
  // all stopped with the drain.
  void StopAll();

 private:
  static constexpr int64_t kDeregisterWaitMs = 3000;
  // A port for `ps` (claimed free on this host) and its endpoint to register when settled.
  Status ClaimPort(ProcessSpec& ps, std::vector<uint32_t>* avoid);
  // Restarts an instance of a deploy in flight on another port after a port
  // clash; an error past the bound.
  Status MoveOffClash(const ProgressFn& progress, const ProcStatus& p);
  // The same for an instance that hit a clash outside a deploy (a restart
  // after a crash found its port taken): runs on a worker thread.
  void MoveOffClashLater(const InstanceKey& key);
  // One instance of `role` under number `instance`, with its port; into `started`.
  Status StartOne(const DeployOrder& order, const AppSpec& spec, const std::string& dir, const std::string& role,
                  uint32_t instance, const ProgressFn& progress, std::set<InstanceKey>* started);
  // What a deploy of `order` does with the role's live instances (drone/rolling_plan.h).
  RollPlan PlanFor(const DeployOrder& order, const std::string& role);
  // Deregistered (acked), drained, stopped.
  void Retire(const InstanceKey& key);
  // Removes the instance's registry entry and waits for the registry's ack
  // (at most kDeregisterWaitMs), so the drain starts once routers can see it.
  void DeregisterForStop(const InstanceKey& key);

  const InstanceRunnerOptions o_;
  Supervisor& supervisor_;
  RegistryLink& registry_;
  const AppLaunch& launch_;
  DeployLocks& locks_;
  const std::function<void(std::function<void()>)> later_;
  PortClaimer ports_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                // guarded by mu_
  std::map<InstanceKey, v1::Endpoint> endpoints_;        // what to register when ready; guarded by mu_
  std::map<InstanceKey, ProcessSpec> specs_;             // of instances started by a deploy in flight; guarded by mu_
  std::map<InstanceKey, std::vector<uint32_t>> avoid_;   // ports found taken, per instance; guarded by mu_
  std::map<InstanceKey, ProcessSpec> running_specs_;     // what each supervised instance was run with; guarded by mu_
  // What the hub asked each instance to run with: a redeploy asking for
  // another env or config version replaces it (Roll).
  std::map<InstanceKey, LaunchEnv> launched_;            // guarded by mu_
};

}  // namespace skyport::drone
