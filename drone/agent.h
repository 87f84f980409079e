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

  void Deploy(uint64_t id, const v1::DeployRequest& req);
  // The checkout dir of (app, commit), made if missing; the app's spec.
  Result<AppSpec> Prepare(uint64_t id, const std::string& app, const std::string& commit, bool* created);
  Status Fetch(const std::string& app, const std::string& commit, const std::string& repo);
  Status RunRelease(const std::string& dir, const AppSpec& spec);
  Status StartInstances(uint64_t id, const v1::DeployRequest& req, const AppSpec& spec, const std::string& dir,
                        std::set<InstanceKey>* started);
  Status AwaitReady(uint64_t id, const std::string& commit, const std::set<InstanceKey>& keys);
  void StopDeployment(const std::string& app, const std::string& commit);
  // Removes the instance's registry entry and waits for the registry's ack
  // (at most kDeregisterWaitMs), so the drain starts once routers can see it.
  void DeregisterForStop(const InstanceKey& key);
  static constexpr int64_t kDeregisterWaitMs = 3000;
  void Stop(uint64_t id, const v1::StopRequest& req);
  void Logs(uint64_t id, const v1::LogsRequest& req);

  void OnProcess(const ProcStatus& p);
  v1::ProcessStatus ToProto(const ProcStatus& p) const;
  std::string DeployDir(const std::string& app, const std::string& commit) const;
  void SaveState();
  std::mutex& DeploymentLock(const std::string& app, const std::string& commit);
  void Spawn(std::function<void()> work);

  AgentOptions o_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<RegistryLink> registry_;
  std::unique_ptr<v1::DroneControl::Stub> hub_;
  std::map<InstanceKey, v1::Endpoint> endpoints_;  // what to register when ready; guarded by mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                  // guarded by mu_
  grpc::ClientContext* attach_ctx_ = nullptr;              // guarded by mu_
  std::map<std::string, std::unique_ptr<std::mutex>> deploy_locks_;  // guarded by mu_
  std::map<uint64_t, uint64_t> log_subscriptions_;         // command id -> subscription; guarded by mu_
  std::map<uint64_t, std::thread> workers_;                // guarded by mu_
  std::set<uint64_t> finished_workers_;                    // guarded by mu_
  uint64_t next_worker_ = 1;                               // guarded by mu_

  std::mutex write_mu_;
  grpc::ClientReaderWriter<v1::DroneMessage, v1::HubCommand>* stream_ = nullptr;  // guarded by write_mu_
  std::thread attach_thread_;
};

}  // namespace skyport::drone
