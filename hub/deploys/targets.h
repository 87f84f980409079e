// Which drones a deploy goes to. Pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

struct DroneView {
  std::string name;
  std::map<std::string, std::string> labels;
  bool connected = false;
  size_t processes = 0;  // load, for picking `count` drones
};

// Named drones must all be attached; labels must all match; `count` picks the
// least loaded (ties by name). An error says which constraint failed.
Result<std::vector<std::string>> ChooseTargets(const v1::DeployTarget& target, const std::vector<DroneView>& drones);

}  // namespace skyport::hub
