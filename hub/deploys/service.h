// The hub's gRPC services: Hub (for the CLI) and DroneControl (for drones).
// Synchronous handlers: each call has its own thread, so waiting for drones
// is plain blocking code. Every call checks the cluster token first.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "hub/deploys/hub.h"
#include "hub/deploys/stop_guard.h"
#include "hub/ha/gate.h"
#include "hub/git/repo_store.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::hub {

struct ServiceOptions {
  std::string token;
  int64_t deploy_timeout_ms = 300'000;
  int64_t stop_timeout_ms = 60'000;
  size_t logs_follower_max_bytes = 1 << 20;  // per `skyport logs` call: lines queued for a slow client
  const LeaderGate* gate = nullptr;  // several hubs: a standby answers every call with the leader (null: always lead)
  // Stop: refuses a commit the app's route still gives weight, unless StopRequest.force (null: no check).
  const StopGuard* stop_guard = nullptr;
};

class HubService final : public v1::Hub::Service {
 public:
  HubService(Hub* hub, RepoStore* repos, ServiceOptions o) : hub_(hub), repos_(repos), o_(std::move(o)) {}
  grpc::Status Deploy(grpc::ServerContext*, const v1::DeployRequest*, grpc::ServerWriter<v1::DeployProgress>*) override;
  grpc::Status Stop(grpc::ServerContext*, const v1::StopRequest*, v1::StopResponse*) override;
  grpc::Status Ps(grpc::ServerContext*, const v1::PsRequest*, v1::PsResponse*) override;
  grpc::Status Drones(grpc::ServerContext*, const v1::DronesRequest*, v1::DronesResponse*) override;
  grpc::Status Logs(grpc::ServerContext*, const v1::LogsRequest*, grpc::ServerWriter<v1::LogLine>*) override;
  grpc::Status AppSet(grpc::ServerContext*, const v1::AppSetRequest*, v1::AppSettingsResponse*) override;
  // ---- config vars (skyport config; hub/deploys/config_rollout.h)
  grpc::Status ConfigGet(grpc::ServerContext*, const v1::ConfigGetRequest*, v1::AppConfig*) override;
  grpc::Status ConfigChange(grpc::ServerContext*, const v1::ConfigChangeRequest*,
                            grpc::ServerWriter<v1::ConfigChangeEvent>*) override;

  // Prometheus text: log lines dropped for slow `skyport logs` clients;
  // config changes saved, refused (a bound or a bad name) and whose rolling restart failed.
  std::string MetricsText() const;

 private:
  Status KnownApp(const std::string& app, bool running);

  Hub* hub_;
  RepoStore* repos_;
  ServiceOptions o_;
  std::atomic<uint64_t> log_lines_skipped_{0};
  std::atomic<uint64_t> config_changes_{0}, config_refused_{0}, config_roll_failures_{0};  // skyport config
  std::atomic<int64_t> log_followers_{0};
};

class DroneControlService final : public v1::DroneControl::Service {
 public:
  DroneControlService(Hub* hub, RepoStore* repos, std::string token, const LeaderGate* gate = nullptr)
      : hub_(hub), repos_(repos), token_(std::move(token)), gate_(gate) {}
  grpc::Status Attach(grpc::ServerContext*, grpc::ServerReaderWriter<v1::HubCommand, v1::DroneMessage>*) override;
  grpc::Status FetchCommit(grpc::ServerContext*, const v1::FetchCommitRequest*,
                           grpc::ServerWriter<v1::PackChunk>*) override;

 private:
  Hub* hub_;
  RepoStore* repos_;
  std::string token_;
  const LeaderGate* gate_;
};

}  // namespace skyport::hub
