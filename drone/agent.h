// The drone: attaches to the hub and carries out its commands. Deploy =
// fetch the commit's pack, index it, check it out into a temp dir, run the
// release step, rename into deploy/APP/COMMIT (atomic: a failure leaves
// nothing), start each role's instances under the Supervisor, and register
// them once ready. It keeps running its apps while the hub is away and
// re-attaches with backoff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"
#include "drone/app_runtime.h"
#include "drone/app_uids.h"
#include "drone/port_claim.h"
#include "drone/procfile.h"
#include "drone/registry_link.h"
#include "drone/supervisor.h"
#include "rpc/channel.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::drone {

struct AgentOptions {
  std::string name;
  std::string advertise;  // the host others reach this drone's apps on
  std::string data_dir;
  std::string hub;        // HOST:PORT
  std::string registry;   // HOST:PORT
  std::string token;
  std::map<std::string, std::string> labels;
  std::string fixed_command;       // run this instead of the Procfile
  std::string fixed_role = "web";  // the role name of the fixed command
  rpc::TlsFiles tls;
  uint32_t lease_ttl_s = 5;
  int64_t drain_ms = 500;
  int64_t ready_timeout_ms = 30'000;
  int64_t term_timeout_ms = 5'000;
  // How apps run: user, rlimits, nice, cgroup limits (the drone's defaults
  // and ceilings), and which of the drone's variables they get by name.
  AppRuntimeDefaults app;
  std::vector<std::string> app_env_pass;
  std::shared_ptr<CgroupTree> cgroups;  // null: none
  std::shared_ptr<AppUids> app_uids;    // --app-uids: a uid per app (null: off)
  // An instance takes traffic (and a deploy succeeds) once it has been ready
  // this long; skyport.json's min_uptime_ms overrides it per app.
  int64_t min_uptime_ms = 3'000;
  int port_clash_retries = 8;  // ports per instance found taken before a deploy gives up
};

class Agent {
 public:
  explicit Agent(AgentOptions o);
  ~Agent();
  Status Start();
  // Stops every app (deregistered first), revokes the lease, detaches.
  void Shutdown();

 private:
  void AttachLoop();
  bool SendToHub(const v1::DroneMessage& msg);
  void Dispatch(const v1::HubCommand& cmd);
  void Done(uint64_t command_id, const Status& s);
  void Progress(uint64_t command_id, const std::string& commit, v1::DeployProgress::Stage stage,
                const std::string& message);

  // One deploy's deadline (DeployRequest.budget_ms, from when it arrived)
  // and its abort switch (a `stop` of the same app and commit).
  struct DeployRun {
    int64_t deadline_ms = 0;  // NowMs() clock
    int64_t budget_ms = 0;
    std::shared_ptr<std::atomic<bool>> cancel;
    int64_t left() const;
    bool cancelled() const { return cancel && cancel->load(); }
  };
  void Deploy(uint64_t id, const v1::DeployRequest& req);
  // The checkout dir of (app, commit), made if missing; the app's spec.
  Result<AppSpec> Prepare(uint64_t id, const std::string& app, const std::string& commit, bool* created,
                          const DeployRun& run);
  Status Fetch(const std::string& app, const std::string& commit, const std::string& repo, const DeployRun& run);
  Status RunRelease(const std::string& app, const std::string& commit, const std::string& dir, const AppSpec& spec,
                    const DeployRun& run);
  // The flag a `stop` of (app, commit) sets to abort a deploy in flight.
  std::shared_ptr<std::atomic<bool>> CancelFlag(const std::string& app, const std::string& commit);
  Status StartInstances(uint64_t id, const v1::DeployRequest& req, const AppSpec& spec, const std::string& dir,
                        std::set<InstanceKey>* started);
  Status AwaitReady(uint64_t id, const std::string& commit, const std::set<InstanceKey>& keys, const DeployRun& run);
  // A port for `ps` (claimed free on this host) and its endpoint to register when settled.
  Status ClaimPort(ProcessSpec& ps, std::vector<uint32_t>* avoid);
  // Restarts `key` on another port after a port clash; false past the bound.
  Status MoveOffClash(uint64_t id, const ProcStatus& p);
  // The same for an instance that hit a clash outside a deploy (a restart
  // after a crash found its port taken): runs on a worker thread.
  void MoveOffClashLater(const InstanceKey& key);
  void StopDeployment(const std::string& app, const std::string& commit);
  // Removes the instance's registry entry and waits for the registry's ack
  // (at most kDeregisterWaitMs), so the drain starts once routers can see it.
  void DeregisterForStop(const InstanceKey& key);
  // The user `app` runs as: its own uid with --app-uids, else --app-user, else none (the drone's).
  Result<std::optional<AppUser>> UserFor(const std::string& app);
  // How `app`'s processes and release steps run: its limits and its user.
  Result<AppRuntime> RuntimeFor(const std::string& app, const AppSpec& spec);
  static constexpr int64_t kDeregisterWaitMs = 3000;
  void Stop(uint64_t id, const v1::StopRequest& req);
  void Logs(uint64_t id, const v1::LogsRequest& req);

  void OnProcess(const ProcStatus& p);
  v1::ProcessStatus ToProto(const ProcStatus& p) const;
  std::string DeployDir(const std::string& app, const std::string& commit) const;
  void SaveState();
  std::mutex& DeploymentLock(const std::string& app, const std::string& commit);
  // `unless_stopping`: not once Shutdown began (it may have collected the workers already).
  void Spawn(std::function<void()> work, bool unless_stopping = false);

  AgentOptions o_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<RegistryLink> registry_;
  std::unique_ptr<v1::DroneControl::Stub> hub_;
  std::map<InstanceKey, v1::Endpoint> endpoints_;  // what to register when ready; guarded by mu_
  std::map<InstanceKey, ProcessSpec> specs_;        // of instances started by a deploy in flight; guarded by mu_
  std::map<InstanceKey, std::vector<uint32_t>> avoid_;  // ports found taken, per instance; guarded by mu_
  std::map<InstanceKey, ProcessSpec> running_specs_;  // what each supervised instance was run with; guarded by mu_
  std::unique_ptr<PortClaimer> ports_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                  // guarded by mu_
  grpc::ClientContext* attach_ctx_ = nullptr;              // guarded by mu_
  std::map<std::string, std::unique_ptr<std::mutex>> deploy_locks_;  // guarded by mu_
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> deploy_cancels_;  // guarded by mu_
  std::map<uint64_t, uint64_t> log_subscriptions_;         // command id -> subscription; guarded by mu_
  std::map<uint64_t, std::thread> workers_;                // guarded by mu_
  std::set<uint64_t> finished_workers_;                    // guarded by mu_
  uint64_t next_worker_ = 1;                               // guarded by mu_

  std::mutex write_mu_;
  grpc::ClientReaderWriter<v1::DroneMessage, v1::HubCommand>* stream_ = nullptr;  // guarded by write_mu_
  std::thread attach_thread_;
};

}  // namespace skyport::drone
