// The Apps service (issue 16): releases, rollback and the apps overview; and
// the Retirer, which stops the commits a rollback took traffic from once their
// grace ends. The pure rules are hub/deploys/rollback_plan.h; the releases are
// the Hub's (kept with the desired state). Every call checks the cluster
// token, and a standby hub answers with the leader.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hub/deploys/hub.h"
#include "hub/deploys/rollback_plan.h"
#include "hub/flights/flight_state.h"  // RouteIntent
#include "hub/git/repo_store.h"
#include "hub/ha/gate.h"
#include "rpc/failover.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::hub {

inline constexpr int64_t kMaxRollbackGraceMs = 7LL * 24 * 3600 * 1000;

struct AppsOptions {
  std::string token;
  const LeaderGate* gate = nullptr;               // null: a single hub, always leading
  std::shared_ptr<rpc::AddressPool> registries;   // routes are read here; null: no --registry
  int64_t route_timeout_ms = 5'000;
  int64_t deploy_timeout_ms = 300'000;
  int64_t stop_timeout_ms = 60'000;
  // Writes the app's route: the control tower's writer (compare-and-swap,
  // moving the fewest users). Empty: no registry.
  std::function<Status(const std::string& app, const RouteIntent& intent)> write_route;
  // The flights not finished (the tower's List(false)); empty or nothing when it is not open.
  std::function<std::vector<v1::FlightStatus>()> active_flights;
};

// The app's route weights (nullopt: no route config). FAILED_PRECONDITION
// without a registry; the registry's error otherwise.
Result<RouteWeights> ReadRouteWeights(rpc::AddressPool* registries, const std::string& token, const std::string& app,
                                      int64_t timeout_ms);

class AppsService final : public v1::Apps::Service {
 public:
  AppsService(Hub* hub, RepoStore* repos, AppsOptions o) : hub_(hub), repos_(repos), o_(std::move(o)) {}
  grpc::Status Releases(grpc::ServerContext*, const v1::ReleasesRequest*, v1::ReleasesResponse*) override;
  grpc::Status Rollback(grpc::ServerContext*, const v1::RollbackRequest*, v1::RollbackResponse*) override;
  grpc::Status List(grpc::ServerContext*, const v1::AppsRequest*, v1::AppsResponse*) override;
  // Refused without confirm == app, while a flight is active on the app or a
  // rollback of it runs, and with purge when several hubs share the work
  // (the others keep copies of the repository).
  grpc::Status Destroy(grpc::ServerContext*, const v1::DestroyRequest*, v1::DestroyResponse*) override;

  // One change of an app at a time (a rollback, a destroy, a retirement):
  // waits up to `wait_ms` for another to let go of the app; false if it did not.
  bool Claim(const std::string& app, int64_t wait_ms = 0);
  void Unclaim(const std::string& app);

 private:
  grpc::Status Admit(grpc::ServerContext& ctx) const;
  // NOT_FOUND unless the hub has a repository, releases or processes of `app`.
  Status KnownApp(const std::string& app) const;
  std::string ActiveFlight(const std::string& app) const;
  Result<v1::RollbackResponse> DoRollback(grpc::ServerContext& ctx, const v1::RollbackRequest& req);
  Result<v1::DestroyResponse> DoDestroy(const v1::DestroyRequest& req);

  Hub* hub_;
  RepoStore* repos_;
  AppsOptions o_;
  std::mutex mu_;
  std::condition_variable unclaimed_;
  std::set<std::string> claimed_;  // guarded by mu_: apps with a rollback, destroy or retirement in progress
};

// Stops retiring commits once their grace has passed (hub/deploys/rollback_plan.h
// ShouldRetire), on a thread of its own, while this hub leads. A retirement
// that cannot be decided (the registry does not answer) is tried again later.
class Retirer {
 public:
  // `claims`: a retirement holds its app (AppsService::Claim) so that no rollback
  // chooses the commit while it stops; null: none.
  Retirer(Hub* hub, RepoStore* repos, AppsOptions o, AppsService* claims, int64_t interval_ms = 1'000);
  ~Retirer();  // stops and joins (a stop in progress finishes first)

 private:
  void Loop();
  void RetireOne(const std::string& app, const Retirement& r);

  Hub* hub_;
  RepoStore* repos_;
  AppsOptions o_;
  AppsService* claims_;
  const int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace skyport::hub
