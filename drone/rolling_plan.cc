#include "drone/rolling_plan.h"

#include <algorithm>
#include <set>

namespace skyport::drone {

bool IsCurrent(const LaunchEnv& running, const LaunchEnv& wanted) {
  if (running.config_version > wanted.config_version) return true;
  return running.config_version == wanted.config_version && running.env == wanted.env;
}

RollPlan PlanRoll(const std::vector<LiveInstance>& live, uint32_t wanted) {
  wanted = std::max<uint32_t>(1, wanted);
  RollPlan plan;
  std::set<uint32_t> taken;
  std::vector<uint32_t> stale;
  for (const auto& l : live) {
    taken.insert(l.instance);
    (l.current ? plan.keep : stale).push_back(l.instance);
  }
  std::sort(plan.keep.begin(), plan.keep.end());
  std::sort(stale.begin(), stale.end());
  const size_t need = plan.keep.size() >= wanted ? 0 : wanted - plan.keep.size();
  uint32_t next = 0;
  auto free_number = [&] {
    while (taken.count(next)) ++next;
    taken.insert(next);
    return next;
  };
  for (size_t k = 0; k < need; ++k) {
    const uint32_t n = free_number();
    if (k < stale.size()) plan.roll.push_back({n, stale[k]});
    else plan.start_now.push_back(n);
  }
  for (size_t k = need; k < stale.size(); ++k) plan.retire.push_back(stale[k]);
  return plan;
}

}  // namespace skyport::drone
