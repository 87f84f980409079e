// The router's immutable route table: which app a request is for, the app's
// arms (commits) and their instances. Built off the hot path from a registry
// snapshot or a static routes file, published as shared_ptr<const RouteTable>;
// a request keeps the table it started with.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "router/split.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::router {

struct Instance {
  std::string host;      // numeric IPv4/IPv6 or a name resolved at build time
  uint16_t port = 0;
  std::string label;     // "host:port"; sent as X-Skyport-Instance
};

struct Arm {
  std::string commit;    // full hash as registered (static mode: as written)
  uint32_t weight = 0;   // 0: reachable only by override
  std::vector<Instance> instances;  // sorted by label; may be empty (then 503 for its users)
  uint32_t stats_id = 0; // from the StatsIdFn given to the builder
};

struct AppRoute {
  std::string name;
  std::string split_id;          // "" -> "default"
  bool allow_override = false;   // X-Skyport-Commit may pin a commit
  std::vector<Arm> arms;         // every commit with instances, plus weighted commits; sorted by commit
  // Slice upper bounds (exclusive), ascending, the last == kSliceUnits, each
  // with the arm index that owns [previous lt, lt). Empty when no arm has weight.
  std::vector<std::pair<uint32_t, int>> slices;
  int default_arm = -1;          // used when `slices` is empty: the most recently deployed commit

  // The arm for a user position; -1 if the app has no arm at all.
  int ArmFor(uint32_t position) const;
  // The arm whose commit starts with `prefix` (>= 4 hex chars); -1 if none or ambiguous.
  int ArmByCommitPrefix(std::string_view prefix) const;
};

struct RouteTable {
  int64_t revision = 0;   // registry revision it was built from (static mode: reload count)
  std::vector<AppRoute> apps;
  std::unordered_map<std::string, int> by_host;       // lowercase host, no port -> app index
  std::vector<std::pair<std::string, int>> by_prefix; // path prefixes, longest first
  int default_app = -1;

  // Host first (port stripped, case-insensitive), then the longest path prefix
  // of `path`, then the default app; nullptr if none matches.
  const AppRoute* Match(std::string_view host_header, std::string_view path) const;
};

struct TableOptions {
  std::string domain = "localhost";  // APP.<domain> selects APP
  std::string role = "web";          // registry entries of this role carry HTTP traffic
  std::string default_app;           // app for requests nothing else matches ("" = none)
};

// Returns the stats id of (app, commit); stable for the router's lifetime.
using StatsIdFn = std::function<uint32_t(const std::string& app, const std::string& commit)>;

// From registry state. Per app: arms from RouteConfig (slices if valid, else
// LayoutFresh over weights in commit order) plus every commit with live
// endpoints of `role` (HEALTH_CRITICAL skipped). With no weights, default_arm
// is the commit whose earliest registered_unix_ms is the latest (ties: larger
// commit string). Hosts: APP.<domain> plus RouteConfig.hosts; prefixes from
// RouteConfig.path_prefixes.
std::shared_ptr<const RouteTable> BuildFromRegistry(const std::vector<v1::Endpoint>& endpoints,
                                                    const std::vector<v1::RouteConfig>& routes, int64_t revision,
                                                    const TableOptions& options, const StatsIdFn& stats_id);

// Static mode. JSON:
// {"default_app": "web",                       (optional)
//  "apps": [{"name": "web", "hosts": ["example.com"], "path_prefixes": ["/web/"],
//            "split_id": "s1", "allow_override": false,
//            "arms": [{"commit": "aaaa", "weight": 90, "upstreams": ["127.0.0.1:18101"]},
//                     {"commit": "bbbb", "weight": 10, "upstreams": ["127.0.0.1:18102"]}]}]}
// Every problem is reported with its JSON path (INVALID_ARGUMENT).
Result<std::shared_ptr<const RouteTable>> LoadStaticRoutes(std::string_view json_text, int64_t revision,
                                                           const TableOptions& options, const StatsIdFn& stats_id);

// JSON for the admin's GET /routes.
std::string RoutesJson(const RouteTable& table);

}  // namespace skyport::router
