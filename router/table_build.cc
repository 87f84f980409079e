#include "router/table_build.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "contract/route.h"
#include "router/route_build.h"

namespace skyport::router {
namespace {

using internal::AppDraft;
using internal::ArmDraft;

// `key` itself if an endpoint has it, else the one commit it abbreviates,
// else `key` unchanged.
std::string ResolveCommit(const std::string& key, const std::map<std::string, size_t>& commits) {
  if (commits.count(key)) return key;
  std::string found;
  for (auto it = commits.lower_bound(key); it != commits.end() && it->first.starts_with(key); ++it) {
    if (!found.empty()) return key;  // ambiguous
    found = it->first;
  }
  return found.empty() ? key : found;
}

AppDraft Draft(const std::string& name, const MirrorApp& app, std::map<std::string, ArmDraft> live) {
  AppDraft d;
  d.name = name;
  d.arms = std::move(live);
  if (!app.route) return d;
  const v1::RouteConfig& r = *app.route;
  d.split_id = r.split_id();
  d.allow_override = r.allow_override();
  d.hosts.assign(r.hosts().begin(), r.hosts().end());
  d.path_prefixes.assign(r.path_prefixes().begin(), r.path_prefixes().end());
  for (const auto& [key, w] : r.weights()) {
    uint32_t& weight = d.arms[ResolveCommit(key, app.commits)].weight;
    weight = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{weight} + w, UINT32_MAX));
  }
  d.layout = contract::EffectiveLayout(r);
  for (Slice& s : d.layout) s.commit = ResolveCommit(s.commit, app.commits);
  if (r.has_flight()) {
    d.flight = r.flight();
    d.flight_control = ResolveCommit(r.flight().control(), app.commits);
    d.arms[d.flight_control];  // an arm even without weight: everyone outside the flight goes there
  }
  return d;
}

}  // namespace

std::shared_ptr<const AppRoute> BuildApp(const std::string& name, const MirrorApp& app, const HostLookupFn& lookup,
                                         const StatsIdFn& stats_id, size_t* unresolved) {
  *unresolved = 0;
  if (!app.route && app.routed == 0) return nullptr;
  std::map<std::string, ArmDraft> live;
  ArmDraft* arm = nullptr;
  const std::string* arm_commit = nullptr;
  for (const auto& [key, ep] : app.endpoints) {  // in label order: each arm's list comes out sorted
    if (!ep.Routable()) continue;
    const std::string* address = ep.numeric ? &ep.host : lookup(ep.host);
    if (!address) {
      ++*unresolved;
      continue;
    }
    // Endpoints of one commit mostly come together: skip the map lookup then.
    if (!arm_commit || *arm_commit != ep.commit) {
      arm = &live[ep.commit];
      arm_commit = &ep.commit;
    }
    arm->instances.push_back({*address, static_cast<uint16_t>(ep.port), key.first});
    // rank = the commit's earliest registration: the latest-deployed commit ranks highest.
    if (arm->rank == INT64_MIN || ep.registered_unix_ms < arm->rank) arm->rank = ep.registered_unix_ms;
  }
  return std::make_shared<const AppRoute>(internal::FinishApp(Draft(name, app, std::move(live)), stats_id));
}

TableDelta BuildTouched(const RegistryMirror& mirror, const std::set<std::string>& touched,
                        const HostLookupFn& lookup, const StatsIdFn& stats_id) {
  TableDelta out;
  for (const std::string& name : touched) {
    const MirrorApp* app = mirror.Find(name);
    size_t unresolved = 0;
    out.rebuilt[name] = app ? BuildApp(name, *app, lookup, stats_id, &unresolved) : nullptr;
    if (unresolved > 0) out.unresolved.insert(name);
  }
  return out;
}

std::shared_ptr<const RouteTable> NextTable(const RouteTable* prev,
                                            const std::map<std::string, std::shared_ptr<const AppRoute>>& rebuilt,
                                            int64_t revision, const TableOptions& options) {
  auto table = std::make_shared<RouteTable>();
  table->revision = revision;
  const size_t before = prev ? prev->apps.size() : 0;
  table->apps.reserve(before + rebuilt.size());
  // A merge of two name-ordered lists: the previous apps and the rebuilt ones.
  size_t i = 0;
  auto r = rebuilt.begin();
  while (i < before || r != rebuilt.end()) {
    const bool take_prev = i < before && (r == rebuilt.end() || prev->apps[i]->name < r->first);
    if (take_prev) {
      table->apps.push_back(prev->apps[i++]);
      continue;
    }
    if (i < before && prev->apps[i]->name == r->first) ++i;  // replaced (or dropped)
    if (r->second) table->apps.push_back(r->second);
    ++r;
  }
  internal::IndexTable(*table, options.domain, options.default_app);
  return table;
}

}  // namespace skyport::router
