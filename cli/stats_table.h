// Shaping for `skyport stats`: which routers to ask, what to ask them, how
// to read their answers and how to print the merged statistics. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_admin.h"
#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

// Routers register their admin listener under this app and role.
inline constexpr char kRouterApp[] = "skyport-router";
inline constexpr char kRouterAdminRole[] = "admin";

struct RouterTarget {
  std::string name;     // meta "name", else the address
  std::string address;  // HOST:PORT ("[v6]:PORT" for IPv6 literals)
};

// One target per endpoint, ordered by name then address.
std::vector<RouterTarget> RouterTargets(const std::vector<v1::Endpoint>& endpoints);

// "/stats?app=APP&window=S".
std::string StatsPath(const std::string& app, int window_s);

// The /stats document in `resp`, or why not ("HTTP 401: missing or wrong
// bearer token", "not a JSON object").
Result<nlohmann::json> StatsDocument(const AdminResponse& resp);

// "skyport: warning: router NAME (ADDRESS): WHY" without a newline; the
// address is not repeated where AdminGet's message names it already.
std::string RouterWarning(const RouterTarget& router, const Status& status);

// A header line ("APP: last Ss, N routers") and one row per arm of `app` in
// `merged` (a MergeStatsJson document) and per commit in `weights`, ordered
// by commit: COMMIT (12 characters), WEIGHT (only when `weights` is not
// empty; "-" for arms outside it), REQUESTS (in the window), LAST-MIN, 2XX,
// 3XX, 4XX, 5XX, ERR% (5xx share), P50-MS, P99-MS, USERS. Ends with a newline.
std::string RenderStatsTable(const nlohmann::json& merged, const std::string& app,
                             const std::map<std::string, uint32_t>& weights);

}  // namespace skyport::cli
