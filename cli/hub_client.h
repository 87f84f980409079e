// A thin client for the hub's Hub and StatsSink services: one method per RPC,
// each with the cluster token attached, returning values or a Status that
// carries the gRPC code and message unchanged. Unary calls (Ps, Drones,
// QueryStats) have the per-RPC deadline; the others run as long as the hub
// takes (the hub bounds deploys and stops itself), so callers first
// WaitConnected.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/registry_client.h"  // ConnectOptions
#include "core/status.h"
#include "skyport/v1/hub.pb.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

class HubClient {
 public:
  // Checks the address list; does not contact a hub yet. With several hubs
  // each call tries them in turn and follows the leader (rpc/leader.h,
  // rpc/failover.h).
  static Result<std::unique_ptr<HubClient>> Connect(const ConnectOptions& opts);
  ~HubClient();

  // OK once the channel is connected, UNAVAILABLE if that takes longer than
  // the per-RPC timeout.
  Status WaitConnected();

  // Calls `on_progress` for each message; returns how the stream ended (the
  // hub's verdict on the deploy).
  Status Deploy(const v1::DeployRequest& req,
                const std::function<void(const v1::DeployProgress&)>& on_progress);
  Result<v1::StopResponse> Stop(const v1::StopRequest& req);
  Result<v1::PsResponse> Ps(const std::string& app);
  Result<v1::DronesResponse> Drones();
  Result<v1::AppSettingsResponse> AppSet(const v1::AppSetRequest& req);
  // StatsSink.Query: per-arm experiment aggregates.
  Result<v1::StatsReport> QueryStats(const v1::StatsQuery& q);
  // Flights (the hub's control tower).
  Result<v1::FlightStatus> FlightStart(const std::string& spec_json);
  Result<v1::FlightStatus> FlightKill(const std::string& name, const std::string& reason);
  Result<v1::FlightListResponse> FlightList(bool all);
  Result<v1::FlightStatus> FlightStatus(const std::string& name);
  Result<v1::FlightLogResponse> FlightLog(const std::string& name);
  // ---- config vars (skyport config)
  Result<v1::AppConfig> ConfigGet(const std::string& app, bool reveal);
  // Calls `on_event` for each event; returns how the stream ended (the
  // hub's verdict on the change and its rolling restart).
  Status ConfigChange(const v1::ConfigChangeRequest& req,
                      const std::function<void(const v1::ConfigChangeEvent&)>& on_event);

  // Calls `on_line` for each line until the stream ends, `on_line` returns
  // false or Cancel() is called (both end it with CANCELLED). `timeout_ms` 0:
  // no deadline.
  Status Logs(const v1::LogsRequest& req, const std::function<bool(const v1::LogLine&)>& on_line,
              int64_t timeout_ms);

  // --- releases, rollback and the apps overview (issue 16): the Apps service.
  Result<v1::ReleasesResponse> Releases(const std::string& app);
  // No deadline: a rollback may deploy, which the hub bounds.
  Result<v1::RollbackResponse> Rollback(const v1::RollbackRequest& req);
  Result<v1::AppsResponse> Apps();
  // No deadline: the hub stops every commit, bounded.
  Result<v1::DestroyResponse> Destroy(const v1::DestroyRequest& req);

  // Thread-safe (e.g. from a signal-waiting thread): cancels the streaming
  // call in flight, and any started later.
  void Cancel();

  const std::string& target() const { return target_; }
  // The hub that gave the last call's answer ("" when none did).
  const std::string& answered_by() const { return answered_by_; }

 private:
  struct Impl;
  HubClient(std::unique_ptr<Impl> impl, std::string target, int64_t timeout_ms);

  std::unique_ptr<Impl> impl_;
  std::string target_;
  int64_t timeout_ms_;
  std::string answered_by_;
};

}  // namespace skyport::cli
