#include "router/route_table.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "router/route_build.h"
#include "router/table_build.h"

namespace skyport::router {
namespace {

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (Lower(s[i]) != Lower(prefix[i])) return false;
  return true;
}

// The Host header's host: no port, no brackets, no surrounding blanks.
std::string_view HostPart(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (!h.empty() && h.front() == '[') {
    size_t close = h.find(']');
    return close == std::string_view::npos ? h.substr(1) : h.substr(1, close - 1);
  }
  size_t colon = h.find(':');
  if (colon != std::string_view::npos && h.find(':', colon + 1) == std::string_view::npos) h = h.substr(0, colon);
  return h;  // a bare IPv6 address (several ':') stays whole
}

nlohmann::ordered_json FlightJson(const AppRoute& app, const Flight& f) {
  using Json = nlohmann::ordered_json;
  const v1::FlightFilter& filter = f.matcher.filter();
  Json headers = Json::object();
  for (const auto& [name, value] : std::map<std::string, std::string>(filter.headers().begin(), filter.headers().end()))
    headers[name] = value;
  Json control = nullptr;
  if (f.control_arm >= 0 && static_cast<size_t>(f.control_arm) < app.arms.size())
    control = app.arms[static_cast<size_t>(f.control_arm)].commit;
  return Json{{"name", f.name},
              {"id", f.id},
              {"control", std::move(control)},
              {"filter",
               Json{{"channels", std::vector<std::string>(filter.channels().begin(), filter.channels().end())},
                    {"oses", std::vector<std::string>(filter.oses().begin(), filter.oses().end())},
                    {"locales", std::vector<std::string>(filter.locales().begin(), filter.locales().end())},
                    {"headers", std::move(headers)}}},
              {"range", Json{{"key", f.range_key.empty() ? std::string("uid") : f.range_key},
                             {"ge", f.range_ge},
                             {"lt", f.range_lt}}},
              {"end_by_unix_ms", f.end_by_unix_ms}};
}

}  // namespace

int AppRoute::ArmFor(uint32_t position) const {
  if (slices.empty()) return default_arm;
  auto it = std::upper_bound(slices.begin(), slices.end(), position,
                             [](uint32_t p, const std::pair<uint32_t, int>& s) { return p < s.first; });
  return it == slices.end() ? slices.back().second : it->second;
}

int AppRoute::FallbackArm() const {
  if (flight && flight->control_arm >= 0 && !arms[static_cast<size_t>(flight->control_arm)].instances.empty())
    return flight->control_arm;
  int best = -1;
  for (size_t i = 0; i < arms.size(); ++i)
    if (!arms[i].instances.empty() && (best < 0 || arms[i].weight > arms[static_cast<size_t>(best)].weight))
      best = static_cast<int>(i);
  return best;
}

int AppRoute::RetryArm(std::string_view commit, bool in_flight) const {
  for (size_t i = 0; i < arms.size(); ++i)
    if (arms[i].commit == commit) {
      if (!arms[i].instances.empty()) return static_cast<int>(i);
      break;
    }
  if (in_flight) return -1;  // its arm is the experiment's to choose: never another one behind its back
  if (slices.empty() && default_arm >= 0) return default_arm;
  return FallbackArm();
}

int AppRoute::ArmByCommitPrefix(std::string_view prefix) const {
  if (prefix.empty()) return -1;
  for (size_t i = 0; i < arms.size(); ++i)
    if (arms[i].commit.size() == prefix.size() && StartsWithNoCase(arms[i].commit, prefix)) return static_cast<int>(i);
  if (prefix.size() < 4) return -1;
  int found = -1;
  for (size_t i = 0; i < arms.size(); ++i)
    if (StartsWithNoCase(arms[i].commit, prefix)) {
      if (found >= 0) return -1;
      found = static_cast<int>(i);
    }
  return found;
}

const AppRoute* RouteTable::Match(std::string_view host_header, std::string_view path) const {
  // internal::NormalizeHost without the allocation: lowercase into the stack
  // (a valid Host name is at most 253 bytes; longer ones take the slow way).
  std::string_view h = HostPart(host_header);
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  if (!h.empty()) {
    char buf[256];
    std::string long_host;
    std::string_view host;
    if (h.size() <= sizeof buf) {
      for (size_t i = 0; i < h.size(); ++i) buf[i] = Lower(h[i]);
      host = std::string_view(buf, h.size());
    } else {
      long_host = internal::NormalizeHost(HostPart(host_header));
      host = long_host;
    }
    auto it = by_host.find(host);
    if (it != by_host.end()) return apps[static_cast<size_t>(it->second)].get();
  }
  for (const auto& [prefix, app] : by_prefix)
    if (path.starts_with(prefix)) return apps[static_cast<size_t>(app)].get();
  return default_app >= 0 ? apps[static_cast<size_t>(default_app)].get() : nullptr;
}

const AppRoute* RouteTable::FindApp(std::string_view name) const {
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : apps[static_cast<size_t>(it->second)].get();
}

bool RouteTable::HasInstance(std::string_view app, std::string_view label) const {
  const AppRoute* a = FindApp(app);
  if (!a) return false;
  for (const Arm& arm : a->arms) {
    auto it = std::lower_bound(arm.instances.begin(), arm.instances.end(), label,
                               [](const Instance& i, std::string_view l) { return i.label < l; });
    if (it != arm.instances.end() && it->label == label) return true;
  }
  return false;
}

std::shared_ptr<const RouteTable> BuildFromRegistry(const std::vector<v1::Endpoint>& endpoints,
                                                    const std::vector<v1::RouteConfig>& routes, int64_t revision,
                                                    const TableOptions& options, const StatsIdFn& stats_id) {
  RegistryMirror mirror(options.role);
  uint64_t id = 0;
  for (const v1::Endpoint& ep : endpoints) {  // ids as given may repeat (tests leave them 0): number them
    v1::Endpoint numbered = ep;
    numbered.set_id(++id);
    mirror.PutEndpoint(numbered);
  }
  for (const v1::RouteConfig& r : routes) mirror.PutRoute(r);
  std::unordered_map<std::string, std::optional<std::string>> resolved;  // one lookup per host name per build
  auto lookup = [&resolved](const std::string& host) -> const std::string* {
    auto [at, fresh] = resolved.try_emplace(host);
    if (fresh)
      if (auto r = internal::ResolveHost(host); r.ok()) at->second = std::move(*r);
    return at->second ? &*at->second : nullptr;
  };
  TableDelta delta = BuildTouched(mirror, mirror.TakeTouched(), lookup, stats_id);
  return NextTable(nullptr, delta.rebuilt, revision, options);
}

std::string RoutesJson(const RouteTable& table) {
  using Json = nlohmann::ordered_json;
  Json apps = Json::object();
  for (size_t k = 0; k < table.apps.size(); ++k) {
    const AppRoute& app = *table.apps[k];
    const AppSelectors& won = table.selectors[k];
    std::vector<Json> slices(app.arms.size(), Json::array());
    std::vector<uint32_t> units(app.arms.size(), 0);
    uint32_t ge = 0;
    for (const auto& [lt, arm] : app.slices) {
      if (arm >= 0 && static_cast<size_t>(arm) < app.arms.size()) {
        slices[static_cast<size_t>(arm)].push_back(Json::array({ge, lt}));
        units[static_cast<size_t>(arm)] += lt - ge;
      }
      ge = lt;
    }
    Json arms = Json::array();
    for (size_t i = 0; i < app.arms.size(); ++i) {
      const Arm& a = app.arms[i];
      Json instances = Json::array();
      for (const Instance& inst : a.instances) instances.push_back(inst.label);
      arms.push_back(Json{{"commit", a.commit},
                          {"weight", a.weight},
                          {"share", static_cast<double>(units[i]) / kSliceUnits},
                          {"slices", std::move(slices[i])},
                          {"instances", std::move(instances)},
                          {"stats_id", a.stats_id}});
    }
    Json default_commit = nullptr;
    if (app.default_arm >= 0 && static_cast<size_t>(app.default_arm) < app.arms.size())
      default_commit = app.arms[static_cast<size_t>(app.default_arm)].commit;
    apps[app.name] = Json{{"split_id", app.split_id},        {"allow_override", app.allow_override},
                          {"hosts", won.hosts},              {"path_prefixes", won.path_prefixes},
                          {"default_commit", default_commit}, {"arms", std::move(arms)},
                          {"flight", app.flight ? FlightJson(app, *app.flight) : Json(nullptr)}};
  }
  Json default_app = nullptr;
  if (table.default_app >= 0 && static_cast<size_t>(table.default_app) < table.apps.size())
    default_app = table.apps[static_cast<size_t>(table.default_app)]->name;
  Json doc{{"revision", table.revision}, {"default_app", default_app}, {"apps", std::move(apps)}};
  return doc.dump();
}

}  // namespace skyport::router
