// `skyport config set|unset`: saves the app's new config vars (a new
// version, persisted with the desired state), then restarts each commit of
// the app that the desired state holds, rolling: the same commit, its own
// --env and instance count, redeployed through RunDeploy (the one deploy
// operation; what it does for every deploy — a release recorded, say — it
// does here) to the attached drones that have it. A drone that already runs
// the commit replaces its instances one at a time, a new one ready and
// registered before an old one is deregistered, drained and stopped
// (drone/rolling_plan.h). A detached drone catches up when it attaches:
// reconcile sees its instances' older config version.
#pragma once

#include <functional>
#include <string>

#include "contract/config_vars.h"
#include "core/status.h"
#include "hub/deploys/hub.h"
#include "hub/deploys/operations.h"
#include "hub/git/repo_store.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

struct ConfigRolloutHooks {
  std::function<void(const AppConfigVars&)> saved;             // once, after the save (may be empty)
  std::function<void(const std::string& commit)> restarting;  // before each commit (may be empty)
  OperationHooks deploy;                                       // each commit's RunDeploy
};

// INVALID_ARGUMENT (nothing saved) for a bad change; the save's error; else
// the config is saved and each commit restarted. ABORTED when a restart
// failed: the message says the version is saved and which commits on which
// drones still run the previous config. CANCELLED when hooks.deploy.cancelled
// said the client went away: the rollout still reaches every commit (each
// remaining commit's deploy is sent, and the drones carry it out). Never puts
// a value into a message.
Result<AppConfigVars> RunConfigChange(Hub* hub, RepoStore* repos, const std::string& app, const ConfigChange& change,
                                      int64_t timeout_ms, const ConfigRolloutHooks& hooks = {});

}  // namespace skyport::hub
