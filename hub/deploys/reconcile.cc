#include "hub/deploys/reconcile.h"

#include <map>
#include <set>

namespace skyport::hub {

ReconcilePlan Reconcile(const std::vector<Deployment>& desired, const std::vector<v1::ProcessStatus>& running,
                        const std::map<std::string, uint64_t>& config_versions) {
  auto version_of = [&](const std::string& app) {
    auto it = config_versions.find(app);
    return it == config_versions.end() ? uint64_t{0} : it->second;
  };
  using Key = std::pair<std::string, std::string>;
  std::map<Key, std::map<std::string, uint32_t>> per_role;  // live processes per role
  std::set<Key> failed;
  std::set<Key> present;
  std::set<Key> stale_config;  // a live process started with another config version
  for (const auto& p : running) {
    Key k{p.app(), p.commit()};
    if (p.state() == "stopped") continue;
    present.insert(k);
    if (p.state() == "failed") failed.insert(k);
    else ++per_role[k][p.role()];
    if (p.state() != "failed" && p.config_version() != version_of(p.app())) stale_config.insert(k);
  }
  ReconcilePlan plan;
  std::set<Key> wanted;
  for (const auto& d : desired) {
    Key k{d.app, d.commit};
    wanted.insert(k);
    bool short_of_instances = false;
    for (const auto& [role, n] : per_role[k]) short_of_instances |= n < d.instances;
    if (!present.count(k) || failed.count(k) || short_of_instances || stale_config.count(k)) plan.start.push_back(d);
  }
  for (const auto& k : present)
    if (!wanted.count(k)) plan.stop.push_back(k);
  return plan;
}

}  // namespace skyport::hub
