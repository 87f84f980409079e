// `skyport stop` of a commit the app's route still sends users to would fail
// their requests (the router has nowhere else to send a user pinned to that
// commit's arm). The hub refuses it unless the caller says --force
// (StopRequest.force), as Heroku refuses to scale a process type to zero
// that a release still routes to. The route is the registry's.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "rpc/failover.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::hub {

// Pure: FAILED_PRECONDITION naming the weight and what to do when `route`
// gives `commit` weight; OK otherwise.
Status RefuseStopOfWeighted(const std::string& app, const std::string& commit, const v1::RouteConfig& route);

// Reads the app's route from the registries and applies RefuseStopOfWeighted.
// A hub without --registry has no routes to ask: OK. The registry not
// answering is UNAVAILABLE (the stop is refused: it cannot be checked).
class StopGuard {
 public:
  StopGuard(std::shared_ptr<rpc::AddressPool> registries, std::string token, int64_t timeout_ms)
      : registries_(std::move(registries)), token_(std::move(token)), timeout_ms_(timeout_ms) {}
  Status Check(const std::string& app, const std::string& commit) const;
  // The app's route: nullopt when it has none (or the hub has no registry).
  Result<std::optional<v1::RouteConfig>> Route(const std::string& app) const;

 private:
  std::shared_ptr<rpc::AddressPool> registries_;  // null: no registry
  std::string token_;
  int64_t timeout_ms_;
};

}  // namespace skyport::hub
