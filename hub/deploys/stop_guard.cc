#include "hub/deploys/stop_guard.h"

#include <fmt/format.h>

#include "rpc/lease_calls.h"  // RegistryCall
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::hub {

Status RefuseStopOfWeighted(const std::string& app, const std::string& commit, const v1::RouteConfig& route) {
  auto w = route.weights().find(commit);
  if (w == route.weights().end() || w->second == 0) return Status::Ok();
  return Status::FailedPrecondition(
      fmt::format("{}@{} still gets weight {} in the app's route: stopping it would fail its users' requests; "
                  "move its weight first (skyport split {} ...), or pass --force",
                  app, commit.substr(0, 12), w->second, app));
}

Result<std::optional<v1::RouteConfig>> StopGuard::Route(const std::string& app) const {
  if (!registries_) return std::optional<v1::RouteConfig>();
  v1::GetRouteRequest get;
  get.set_app(app);
  auto route = rpc::RegistryCall<v1::RouteConfig>(*registries_, &v1::Registry::Stub::GetRoute, get, token_,
                                                  {timeout_ms_, /*wait_for_peer=*/false, rpc::Retry::kSafe});
  if (!route.ok()) {
    if (route.status().code() == Code::kNotFound) return std::optional<v1::RouteConfig>();
    return route.status();
  }
  return std::optional<v1::RouteConfig>(std::move(*route));
}

Status StopGuard::Check(const std::string& app, const std::string& commit) const {
  auto route = Route(app);
  if (!route.ok())
    return Status::Unavailable("cannot read " + app + "'s route to check that the commit gets no traffic (" +
                               route.status().message() + "); --force stops it unchecked");
  if (!*route) return Status::Ok();  // no route: the newest commit takes all
  return RefuseStopOfWeighted(app, commit, **route);
}

}  // namespace skyport::hub
