// What a drone must start and stop to match the desired state: a pure diff,
// computed when a drone attaches (and again after each deploy or stop).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hub/deploys/desired.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

struct ReconcilePlan {
  std::vector<Deployment> start;                           // send a deploy command
  std::vector<std::pair<std::string, std::string>> stop;   // (app, commit): send a stop command
};

// `desired`: the deployments assigned to this drone. `running`: what the drone
// says it runs. A deployment is started when none of its processes runs,
// when one of them has failed for good, or when a role has fewer than
// `instances` processes, or when a live process runs another config version
// than its app's in `config_versions` (the drone missed a `skyport config`
// change: the deploy replaces its instances rolling; an app missing there is
// at version 0); an (app, commit) that runs but is not desired is stopped.
ReconcilePlan Reconcile(const std::vector<Deployment>& desired, const std::vector<v1::ProcessStatus>& running,
                        const std::map<std::string, uint64_t>& config_versions = {});

}  // namespace skyport::hub
