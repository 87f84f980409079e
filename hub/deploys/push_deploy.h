// Deploy on push, the pure part: what a push to an app's deploy branch
// deploys, and how its progress reads on the pushing terminal.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "hub/deploys/desired.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

// The deploy of `commit` that a push triggers: to the drones the app's
// deployments name now that are attached (`connected`; a drone away keeps
// running what it ran, as after any deploy it was not part of), with the instances and
// environment of its newest deployment. All drones when the app runs nowhere;
// the named ones when none of them is attached (the deploy then says so).
v1::DeployRequest PushDeployRequest(const std::string& app, const std::string& commit,
                                    const std::vector<Deployment>& desired, const std::set<std::string>& connected);

// One progress line: "web-1: registered (2 instances)".
std::string PushProgressLine(const v1::DeployProgress& p);

}  // namespace skyport::hub
