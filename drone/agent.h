// The drone: attaches to the hub and carries out its commands. A deploy
// goes through drone/deploy_pipeline.h (fetch, checkout, release step,
// instances started and registered by drone/instance_runner.h); a stop
// deregisters, drains and stops; logs stream the Supervisor's lines. It
// keeps running its apps while the hub is away and re-attaches with backoff.
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

#include "core/ids.h"
#include "core/status.h"
#include "drone/app_launch.h"
#include "drone/app_runtime.h"
#include "drone/app_uids.h"
#include "drone/deploy_locks.h"
#include "drone/deploy_pipeline.h"
#include "drone/deploy_steps.h"
#include "drone/disk_janitor.h"
#include "drone/instance_runner.h"
#include "drone/procfile.h"
#include "drone/registry_link.h"
#include "drone/supervisor.h"
#include "rpc/channel.h"
#include "rpc/address_pool.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::drone {

struct AgentOptions {
  std::string name;
  std::string advertise;  // the host others reach this drone's apps on
  std::string data_dir;
  std::string hub;        // HOST:PORT or a list (core/address_list.h): one leads, the drone follows it
  std::string registry;   // HOST:PORT or a list of interchangeable registries
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
  // Housekeeping (drone/disk_janitor.h): stopped commits' checkouts and logs.
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // 0: never expire
  int64_t gc_interval_ms = 10 * 60 * 1000;
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
  // Each command on a worker thread of its own (a deploy waits for minutes);
  // logs and cancels at once.
  void Dispatch(const v1::HubCommand& cmd);
  void Done(uint64_t command_id, const Status& s);
  void Progress(uint64_t command_id, const std::string& commit, DeployStage stage, const std::string& message);

  void Deploy(uint64_t id, const v1::DeployRequest& req);
  void Stop(uint64_t id, const v1::StopRequest& req);
  void Logs(uint64_t id, const v1::LogsRequest& req);
  // What the logs on disk hold (a stopped or failed commit's, a release step's).
  void StoredLogs(uint64_t id, const v1::LogsRequest& req);

  // One Attach stream to `address` until it ends (`status`; `got_any`: a
  // command came, so the hub took the drone). False when stopping.
  bool RunAttachStream(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                       grpc::ClientContext& ctx,
                       grpc::Status& status, bool& got_any);
  void OnProcess(const ProcStatus& p);
  void SaveState();
  // `unless_stopping`: not once Shutdown began (it may have collected the workers already).
  void Spawn(std::function<void()> work, bool unless_stopping = false);

  AgentOptions o_;
  AppLaunch launch_;
  DeployLocks locks_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<RegistryLink> registry_;
  std::shared_ptr<rpc::AddressPool> hubs_;
  std::unique_ptr<InstanceRunner> instances_;
  std::unique_ptr<HubFetcher> fetcher_;
  std::unique_ptr<GitCheckout> checkout_;
  std::unique_ptr<ReleaseStep> release_;
  SystemRandom random_;
  std::unique_ptr<DeployPipeline> pipeline_;
  std::unique_ptr<DiskJanitor> janitor_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                  // guarded by mu_
  grpc::ClientContext* attach_ctx_ = nullptr;              // guarded by mu_
  std::map<uint64_t, uint64_t> log_subscriptions_;         // command id -> subscription; guarded by mu_
  std::map<uint64_t, std::thread> workers_;                // guarded by mu_
  std::set<uint64_t> finished_workers_;                    // guarded by mu_
  uint64_t next_worker_ = 1;                               // guarded by mu_

  std::mutex write_mu_;
  grpc::ClientReaderWriter<v1::DroneMessage, v1::HubCommand>* stream_ = nullptr;  // guarded by write_mu_
  std::thread attach_thread_;
};

}  // namespace skyport::drone
