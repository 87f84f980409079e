#include "hub/deploys/targets.h"

#include <algorithm>

#include <fmt/format.h>

namespace skyport::hub {

Result<std::vector<std::string>> ChooseTargets(const v1::DeployTarget& t, const std::vector<DroneView>& drones) {
  std::vector<const DroneView*> pool;
  if (t.drones_size() > 0) {
    for (const auto& name : t.drones()) {
      auto it = std::find_if(drones.begin(), drones.end(), [&](const DroneView& d) { return d.name == name; });
      if (it == drones.end() || !it->connected)
        return Status::FailedPrecondition(
            fmt::format("drones: \"{}\" is not attached to the hub (see `skyport drones`)", name));
      if (std::find(pool.begin(), pool.end(), &*it) == pool.end()) pool.push_back(&*it);
    }
  } else {
    for (const auto& d : drones)
      if (d.connected) pool.push_back(&d);
  }
  std::erase_if(pool, [&](const DroneView* d) {
    for (const auto& [k, v] : t.labels()) {
      auto it = d->labels.find(k);
      if (it == d->labels.end() || it->second != v) return true;
    }
    return false;
  });
  if (pool.empty())
    return Status::FailedPrecondition(t.labels().empty() ? "no drone is attached to the hub"
                                                         : "no attached drone has all the requested labels");
  if (t.count() > 0) {
    if (t.count() > pool.size())
      return Status::FailedPrecondition(
          fmt::format("count: {} drones requested, only {} match", t.count(), pool.size()));
    std::sort(pool.begin(), pool.end(), [](const DroneView* a, const DroneView* b) {
      return a->processes != b->processes ? a->processes < b->processes : a->name < b->name;
    });
    pool.resize(t.count());
  }
  std::vector<std::string> out;
  for (const auto* d : pool) out.push_back(d->name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace skyport::hub
