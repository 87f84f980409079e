#include "hub/deploys/push_deploy.h"

#include <algorithm>
#include <cctype>

namespace skyport::hub {

v1::DeployRequest PushDeployRequest(const std::string& app, const std::string& commit,
                                    const std::vector<Deployment>& desired, const std::set<std::string>& connected) {
  v1::DeployRequest req;
  req.set_app(app);
  req.set_commitish(commit);
  const Deployment* newest = nullptr;
  std::set<std::string> drones;
  for (const Deployment& d : desired) {
    if (d.app != app) continue;
    drones.insert(d.drones.begin(), d.drones.end());
    if (newest == nullptr || d.created_unix_ms > newest->created_unix_ms ||
        (d.created_unix_ms == newest->created_unix_ms && d.commit > newest->commit))
      newest = &d;
  }
  std::set<std::string> here;
  for (const std::string& d : drones)
    if (connected.count(d)) here.insert(d);
  for (const std::string& d : here.empty() ? drones : here) req.mutable_target()->add_drones(d);
  if (newest != nullptr) {
    req.set_instances(newest->instances);
    for (const auto& [k, v] : newest->env) (*req.mutable_env())[k] = v;
  }
  return req;
}

std::string PushProgressLine(const v1::DeployProgress& p) {
  std::string stage = v1::DeployProgress::Stage_Name(p.stage());
  std::transform(stage.begin(), stage.end(), stage.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string line = (p.drone().empty() ? std::string("hub") : p.drone()) + ": " + stage;
  if (!p.message().empty()) line += " " + p.message();
  return line;
}

}  // namespace skyport::hub
