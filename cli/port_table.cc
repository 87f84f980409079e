#include "cli/port_table.h"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "cli/columns.h"

namespace skyport::cli {
namespace {

std::vector<v1::Endpoint> Sorted(std::vector<v1::Endpoint> eps) {
  std::sort(eps.begin(), eps.end(), [](const v1::Endpoint& a, const v1::Endpoint& b) {
    return std::forward_as_tuple(a.app(), a.commit(), a.role(), a.instance(), a.host(), a.port(),
                                 a.id()) < std::forward_as_tuple(b.app(), b.commit(), b.role(),
                                                                  b.instance(), b.host(), b.port(),
                                                                  b.id());
  });
  return eps;
}

nlohmann::json Entry(const v1::Endpoint& ep, const TableOptions& opts) {
  nlohmann::json e = {{"host", ep.host()}, {"port", ep.port()}};
  if (opts.wide) {
    e["app"] = ep.app();
    e["instance"] = ep.instance();
    e["drone"] = ep.drone();
    e["pid"] = ep.pid();
    e["health"] = HealthName(ep.health());
    e["id"] = ep.id();
    e["age"] = AgeSeconds(ep, opts.now_ms);
  }
  return e;
}

}  // namespace

std::string HealthName(v1::Health health) {
  switch (health) {
    case v1::HEALTH_PASSING: return "passing";
    case v1::HEALTH_WARNING: return "warning";
    case v1::HEALTH_CRITICAL: return "critical";
    default: return "unknown";
  }
}

int64_t AgeSeconds(const v1::Endpoint& ep, int64_t now_ms) {
  if (ep.registered_unix_ms() <= 0 || now_ms <= ep.registered_unix_ms()) return 0;
  return (now_ms - ep.registered_unix_ms()) / 1000;
}

std::string FormatAge(int64_t s) {
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

nlohmann::json PortTable(const std::vector<v1::Endpoint>& endpoints, const TableOptions& opts) {
  nlohmann::json table = nlohmann::json::object();
  for (const auto& ep : Sorted(endpoints)) {
    auto& role = table[ep.commit()][ep.role()];
    if (role.is_null()) role = nlohmann::json::array();
    role.push_back(Entry(ep, opts));
  }
  return table;
}

nlohmann::json EndpointList(const std::vector<v1::Endpoint>& endpoints, int64_t now_ms) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& ep : Sorted(endpoints)) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [k, v] : ep.meta()) meta[k] = v;
    list.push_back({{"id", ep.id()},
                    {"app", ep.app()},
                    {"commit", ep.commit()},
                    {"role", ep.role()},
                    {"instance", ep.instance()},
                    {"host", ep.host()},
                    {"port", ep.port()},
                    {"drone", ep.drone()},
                    {"pid", ep.pid()},
                    {"meta", meta},
                    {"health", HealthName(ep.health())},
                    {"lease_id", ep.lease_id()},
                    {"registered_unix_ms", ep.registered_unix_ms()},
                    {"age", AgeSeconds(ep, now_ms)},
                    {"revision", ep.revision()}});
  }
  return list;
}

std::string RenderTable(const std::vector<v1::Endpoint>& endpoints, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"APP", "COMMIT", "ROLE", "INST", "HOST", "PORT", "DRONE", "PID", "HEALTH", "AGE", "ID"}};
  for (const auto& ep : Sorted(endpoints)) {
    rows.push_back({ep.app(), ep.commit().substr(0, 12), ep.role(), std::to_string(ep.instance()),
                    ep.host(), std::to_string(ep.port()), ep.drone().empty() ? "-" : ep.drone(),
                    ep.pid() > 0 ? std::to_string(ep.pid()) : "-", HealthName(ep.health()),
                    FormatAge(AgeSeconds(ep, now_ms)), std::to_string(ep.id())});
  }
  return AlignColumns(rows);
}

}  // namespace skyport::cli
