#include "hub/deploys/config_rollout.h"

#include <algorithm>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"

namespace skyport::hub {
namespace {

// The single place a config change deploys: RunDeploy of `d`'s commit with
// its own env and instances to `drones`.
Status RedeployForConfig(Hub* hub, RepoStore* repos, const Deployment& d, const std::vector<std::string>& drones,
                         int64_t timeout_ms, const OperationHooks& hooks) {
  v1::DeployRequest req;
  req.set_app(d.app);
  req.set_commitish(d.commit);
  req.set_instances(d.instances);
  req.mutable_env()->insert(d.env.begin(), d.env.end());
  for (const auto& dr : drones) req.mutable_target()->add_drones(dr);
  OperationHooks redeploy = hooks;
  redeploy.only_if_desired = true;
  return RunDeploy(hub, repos, req, timeout_ms, redeploy);
}

}  // namespace

Result<AppConfigVars> RunConfigChange(Hub* hub, RepoStore* repos, const std::string& app, const ConfigChange& change,
                                      int64_t timeout_ms, const ConfigRolloutHooks& hooks) {
  auto saved = hub->ChangeConfig(app, change);
  if (!saved.ok()) return saved.status();
  // Names only: the values are secrets.
  log::Info("config changed", {{"app", app},
                               {"version", static_cast<int64_t>(saved->version)},
                               {"set", static_cast<int64_t>(change.set.size())},
                               {"unset", static_cast<int64_t>(change.unset.size())}});
  if (hooks.saved) hooks.saved(*saved);

  const auto connected = hub->ConnectedDrones();
  std::vector<std::string> failures;
  // The client going away does not stop the rollout: the version is saved,
  // and attached drones would never catch up (reconcile runs on attach).
  // Once it has gone, each remaining commit's deploy is sent and left to the
  // drones (RunDeploy returns CANCELLED at once, the release resolved by the
  // drones' answers).
  bool cancelled = false;
  // Oldest deployment first, the newest last. Without a route config routers
  // send everyone to the commit registered last, and a rolled instance
  // registers anew: the newest deployment must be the last to roll, or the
  // change would leave all traffic on an older commit (commit-hash order did,
  // about half the time). A rolled instance registers with its commit's deploy
  // time (DeployRequest.deployed_unix_ms), so no order moves the default; this
  // one also keeps the newest commit's instances the last to change.
  std::vector<Deployment> mine;
  for (auto& d : hub->Desired())
    if (d.app == app) mine.push_back(std::move(d));
  std::stable_sort(mine.begin(), mine.end(),
                   [](const Deployment& a, const Deployment& b) { return a.created_unix_ms < b.created_unix_ms; });
  for (const auto& d : mine) {
    std::vector<std::string> drones;
    for (const auto& dr : d.drones)
      if (std::find(connected.begin(), connected.end(), dr) != connected.end()) drones.push_back(dr);
    if (drones.empty()) continue;  // its drones catch up when they attach (reconcile)
    if (hooks.restarting && !cancelled) hooks.restarting(d.commit);
    if (Status s = RedeployForConfig(hub, repos, d, drones, timeout_ms, hooks.deploy); !s.ok()) {
      if (s.code() == Code::kCancelled) {
        cancelled = true;
        continue;
      }
      failures.push_back(s.message());
    }
  }
  if (cancelled)
    return Status(Code::kCancelled, fmt::format("the client went away; config v{} of {} is saved and its rolling "
                                                "restart goes on at the drones",
                                                saved->version, app));
  if (failures.empty()) return saved;
  std::string joined;
  for (const auto& f : failures) joined += (joined.empty() ? "" : "; ") + f;
  return Status::Aborted(fmt::format(
      "config v{} of {} is saved, but its rolling restart failed (the instances that ran keep the previous "
      "config): {}",
      saved->version, app, joined));
}

}  // namespace skyport::hub
