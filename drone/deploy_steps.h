// The real steps of the deploy pipeline (drone/deploy_pipeline.h): a pack
// from the hub, a libgit2 checkout, the release step as a child process.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "drone/app_launch.h"
#include "drone/deploy_pipeline.h"
#include "rpc/address_pool.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::drone {

using SendFn = std::function<void(const v1::DroneMessage&)>;

// FetchCommit from the hub (the drone's --hub list, following the leader:
// rpc/failover.h), indexed into DATA/repos/APP.git; bounded by the deploy's
// deadline.
class HubFetcher final : public CommitFetcher {
 public:
  HubFetcher(std::shared_ptr<rpc::AddressPool> hubs, std::string token, std::string data_dir)
      : hubs_(std::move(hubs)), token_(std::move(token)), data_dir_(std::move(data_dir)) {}
  Status Fetch(const std::string& app, const std::string& commit, const DeployRun& run) override;

 private:
  std::shared_ptr<rpc::AddressPool> hubs_;
  const std::string token_;
  const std::string data_dir_;
};

// The commit's tree from DATA/repos/APP.git; with an app user, the checkout
// is that user's (a build writes into it), and with a uid per app its alone (0700).
class GitCheckout final : public CheckoutMaker {
 public:
  GitCheckout(std::string data_dir, const AppLaunch& launch) : data_dir_(std::move(data_dir)), launch_(launch) {}
  Status Checkout(const std::string& app, const std::string& commit, const std::string& dir) override;

 private:
  const std::string data_dir_;
  const AppLaunch& launch_;
};

// The release step under drone/run_command.h, as the app runs (user,
// limits, environment), killed at its timeout or the deploy's deadline or
// on a stop. `skyport ps` shows it while it runs (role and state "release").
// Its output (the last kReleaseOutputKeep bytes) and how it ended go to
// LOG_DIR/APP/COMMIT/release.log, success or failure, replacing the previous
// one (`skyport logs APP COMMIT --release`, drone/stored_logs.h).
class ReleaseStep final : public ReleaseRunner {
 public:
  static constexpr size_t kReleaseOutputKeep = 64 * 1024;
  // The error of a failed step quotes this much of the output's end.
  static constexpr size_t kReleaseErrorOutput = 4096;
  ReleaseStep(std::string drone_name, const AppLaunch& launch, SendFn send, std::string log_dir = "")
      : drone_name_(std::move(drone_name)), launch_(launch), send_(std::move(send)), log_dir_(std::move(log_dir)) {}
  Status Release(const std::string& app, const std::string& commit, const std::string& dir, const AppSpec& spec,
                 const std::map<std::string, std::string>& env, const DeployRun& run) override;

 private:
  const std::string drone_name_;
  const AppLaunch& launch_;
  const SendFn send_;
  const std::string log_dir_;  // "": output not kept
};

}  // namespace skyport::drone
