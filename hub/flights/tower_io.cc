#include "hub/flights/tower_io.h"

#include <fmt/format.h>

#include "contract/route.h"
#include "contract/split.h"
#include "core/clock.h"
#include "core/log.h"
#include "hub/deploys/operations.h"
#include "hub/deploys/stop_guard.h"
#include "hub/flights/ping_http.h"
#include "rpc/call.h"
#include "rpc/lease_calls.h"  // RegistryCall
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::hub {
namespace {

constexpr int kRouteAttempts = 5;  // compare-and-swap retries against concurrent writers

// The route config that carries out `intent` on top of `current` (hosts,
// prefixes and the override flag kept). Moves the fewest users: with the same
// split id the routers' current layout is rebalanced, else laid out afresh.
Result<v1::RouteConfig> PlanRoute(const std::string& app, const std::optional<v1::RouteConfig>& current,
                                  const RouteIntent& intent) {
  v1::RouteConfig next;
  if (current) next = *current;
  next.set_app(app);
  next.clear_revision();
  next.clear_weights();
  next.clear_slices();
  const std::string split_id = intent.split_id.empty() && current ? current->split_id() : intent.split_id;
  next.set_split_id(split_id);
  std::map<std::string, uint32_t> weights(intent.weights.begin(), intent.weights.end());
  for (const auto& [commit, w] : weights) (*next.mutable_weights())[commit] = w;
  std::vector<router::Slice> old;
  if (current && current->split_id() == split_id) old = contract::EffectiveLayout(*current);
  auto layout = router::Rebalance(old, weights);
  if (!layout.ok()) layout = router::Rebalance({}, weights);
  if (!layout.ok()) return layout.status();
  for (const auto& s : *layout) {
    auto* slice = next.add_slices();
    slice->set_commit(s.commit);
    slice->set_ge(s.ge);
    slice->set_lt(s.lt);
  }
  if (intent.flight) *next.mutable_flight() = *intent.flight;
  else next.clear_flight();
  return next;
}

class RealTowerIo final : public TowerIo {
 public:
  RealTowerIo(Hub* hub, RepoStore* repos, StatsStore* stats, TowerIoOptions o)
      : hub_(hub), repos_(repos), stats_(stats), o_(std::move(o)) {
    if (o_.registry.empty()) return;
    // A list of registries is tried in turn (rpc/failover.h).
    auto pool = rpc::AddressPool::Create("registry", o_.registry, o_.tls);
    if (pool.ok()) registry_ = *pool;
    else dial_error_ = pool.status().message();
  }

  Result<std::string> Resolve(const std::string& app, const std::string& commitish) override {
    return repos_->Resolve(app, commitish);
  }

  Status Ready() override {
    if (o_.registry.empty())
      return Status::FailedPrecondition("flights need the registry: start the hub with --registry HOST:PORT");
    if (!registry_) return Status::FailedPrecondition("registry: " + dial_error_);
    return Status::Ok();
  }

  Status Deploy(const std::string& app, const std::string& commit, uint32_t instances) override {
    v1::DeployRequest req;
    req.set_app(app);
    req.set_commitish(commit);
    req.set_instances(instances);
    return RunDeploy(hub_, repos_, req, o_.deploy_timeout_ms);
  }

  Status Stop(const std::string& app, const std::string& commit) override {
    // The route may send it traffic again (e.g. rolled back by hand with
    // `skyport split` during a promotion's grace): then it stays.
    if (registry_) {
      v1::GetRouteRequest get;
      get.set_app(app);
      auto cur = rpc::RegistryCall<v1::RouteConfig>(*registry_, &v1::Registry::Stub::GetRoute, get, o_.token,
                                                    {o_.rpc_timeout_ms, /*wait_for_peer=*/true, rpc::Retry::kSafe});
      if (cur.ok())
        if (Status s = RefuseStopOfWeighted(app, commit, *cur); !s.ok()) return s;
    }
    v1::StopRequest req;
    req.set_app(app);
    req.set_commitish(commit);
    auto r = RunStop(hub_, repos_, req, o_.stop_timeout_ms);
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
    return Status::Ok();
  }

  Status WriteRoute(const std::string& app, const RouteIntent& intent) override {
    if (Status s = Ready(); !s.ok()) return s;
    Status last;
    for (int attempt = 0; attempt < kRouteAttempts; ++attempt) {
      if (o_.leading && !o_.leading())
        return Status::Aborted("this hub no longer leads; the route was not written (its successor steps the flight)");
      v1::GetRouteRequest get;
      get.set_app(app);
      auto cur = rpc::RegistryCall<v1::RouteConfig>(*registry_, &v1::Registry::Stub::GetRoute, get, o_.token,
                                                    {o_.rpc_timeout_ms, /*wait_for_peer=*/true, rpc::Retry::kSafe});
      std::optional<v1::RouteConfig> current;
      if (cur.ok()) current = *cur;
      else if (cur.status().code() != Code::kNotFound) return cur.status();
      auto next = PlanRoute(app, current, intent);
      if (!next.ok()) return next.status();
      v1::PutRouteRequest put;
      *put.mutable_route() = *next;
      put.set_expected_revision(current ? current->revision() : 0);
      // A compare-and-swap: sent once per attempt (its outcome may be
      // unknown); the next attempt reads the route again first.
      auto r = rpc::RegistryCall<v1::PutRouteResponse>(*registry_, &v1::Registry::Stub::PutRoute, put, o_.token,
                                                       {o_.rpc_timeout_ms, /*wait_for_peer=*/true, rpc::Retry::kIfUnsent});
      if (r.ok()) return Status::Ok();
      last = r.status();
      if (last.code() != Code::kFailedPrecondition) return last;  // only a lost race is retried here
    }
    return last;
  }

  Status CheckRoute(const std::string& app, const RouteIntent& intent) override {
    auto route = PlanRoute(app, std::nullopt, intent);
    if (!route.ok()) return route.status();
    return contract::ValidateRoute(*route);
  }

  PingResult Ping(const std::string& method, const std::string& url, const std::string& body) override {
    return HttpPing(method, url, body, o_.ping_timeout_ms);
  }

  Result<GateVerdict> Gate(const std::string& app, const std::string& flight, const GateSpec& gate,
                           double previous_p, int64_t since_unix_ms) override {
    v1::StatsQuery q;
    q.set_app(app);
    q.set_flight(flight);
    q.set_event(gate.event);
    q.set_from_unix_s(since_unix_ms / 1000 / 3600 * 3600);  // rows are per UTC hour
    auto report = stats_->Query(q, SystemClock::Get()->WallMs() / 1000);
    if (!report.ok()) return report.status();
    return EvaluateGate(gate, TrafficFromReport(*report, gate.control), TrafficFromReport(*report, gate.arm),
                        OutcomeFromReport(*report, gate.control), OutcomeFromReport(*report, gate.arm), previous_p);
  }

  std::map<std::string, uint64_t> Enrolled(const std::string& app, const std::string& flight) override {
    v1::StatsQuery q;
    q.set_app(app);
    q.set_flight(flight);
    std::map<std::string, uint64_t> out;
    auto report = stats_->Query(q, SystemClock::Get()->WallMs() / 1000);
    if (!report.ok()) return out;
    for (const auto& row : report->rows()) out[row.arm()] += row.users_exposed();
    return out;
  }

 private:
  Hub* hub_;
  RepoStore* repos_;
  StatsStore* stats_;
  TowerIoOptions o_;
  std::shared_ptr<rpc::AddressPool> registry_;
  std::string dial_error_;
};

}  // namespace

std::unique_ptr<TowerIo> MakeTowerIo(Hub* hub, RepoStore* repos, StatsStore* stats, TowerIoOptions o) {
  return std::make_unique<RealTowerIo>(hub, repos, stats, std::move(o));
}

}  // namespace skyport::hub
