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
#include "router/flight_match.h"
#include "contract/split.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::router {

struct Instance {
  std::string host;      // always a numeric IPv4/IPv6 address (names are resolved at build time)
  uint16_t port = 0;
  std::string label;     // "host:port" as registered or written ("[v6]:port"); sent as X-Skyport-Instance
};

struct Arm {
  // Full hash as registered (static mode: as written). A weight key of the
  // route config that abbreviates exactly one commit of the app's endpoints
  // is that commit; one that abbreviates none (or several) stays as written,
  // an arm without instances.
  std::string commit;
  uint32_t weight = 0;   // 0: reachable only by override
  std::vector<Instance> instances;  // sorted by label; may be empty (then 503 for its users)
  uint32_t stats_id = 0; // from the StatsIdFn given to the builder
};

struct AppRoute {
  std::string name;
  std::string split_id;          // never "": a config's "" is "default"
  bool allow_override = false;   // X-Skyport-Commit may pin a commit
  std::vector<Arm> arms;         // every commit with instances, plus weighted commits; sorted by commit
  // Slice upper bounds (exclusive), ascending, the last == kSliceUnits, each
  // with the arm index that owns [previous lt, lt); adjacent slices of one
  // arm are merged. Empty when no arm has weight.
  std::vector<std::pair<uint32_t, int>> slices;
  // Used when `slices` is empty; -1 when no arm has instances. Registry: the
  // most recently deployed commit with instances. Static: the first arm of
  // the file that has upstreams.
  int default_arm = -1;
  // What the app asks for (the route config's or the file's lists, as
  // configured); RouteTable::selectors says which of them it won.
  std::vector<std::string> hosts;
  std::vector<std::string> path_prefixes;
  // The flight running on the app (RouteConfig.flight), null when none. Its
  // control_arm is always an arm of the app (weight 0 if unweighted).
  std::shared_ptr<const Flight> flight;

  // The arm for a user position; -1 if the app has no arm at all.
  int ArmFor(uint32_t position) const;
  // The arm whose commit equals `prefix`, else the one arm whose commit
  // starts with it (>= 4 chars); ASCII case-insensitive. -1 if none or ambiguous.
  int ArmByCommitPrefix(std::string_view prefix) const;
  // The arm that serves a user whose own arm has nothing running: the
  // flight's control when it can, else the heaviest arm with instances (the
  // first of equals); -1 when no arm has any.
  int FallbackArm() const;
  // For a request whose arm (`commit`, taken from an older table) had no
  // instance it could reach, the arm of this table to try next: the same
  // commit when it has instances here; else, outside flights (`in_flight`
  // false), the arm a request gets now when its own has nothing running (the
  // default arm without a split, else FallbackArm). -1: nowhere to go.
  int RetryArm(std::string_view commit, bool in_flight) const;
};

// What selects an app in one table: the hosts and prefixes it won (when apps
// claim the same one, only one wins; see IndexTable).
struct AppSelectors {
  std::vector<std::string> hosts;          // lowercase Host names (APP.<domain> too), sorted
  std::vector<std::string> path_prefixes;  // as configured
};

struct RouteTable {
  int64_t revision = 0;   // registry revision it was built from (static mode: reload count)
  // Registry: sorted by name; static: in file order. Each app is immutable and
  // shared: a table built from a registry delta reuses, by pointer, every app
  // the delta did not touch (router/table_build.h), so a request's AppRoute*
  // stays valid as long as it holds any table that contains it.
  std::vector<std::shared_ptr<const AppRoute>> apps;
  std::vector<AppSelectors> selectors;  // parallel to `apps`
  // Looked up by string_view (no std::string per request).
  struct HostHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int, HostHash, std::equal_to<>> by_host;  // lowercase host, no port -> app index
  // App name -> index; the keys view the names of `apps` (owned by this table).
  std::unordered_map<std::string_view, int, HostHash, std::equal_to<>> by_name;
  std::vector<std::pair<std::string, int>> by_prefix; // path prefixes, longest first
  int default_app = -1;

  // Host first (port stripped, "[v6]:port" too, case-insensitive, a trailing
  // '.' ignored), then the longest path prefix of `path`, then the default
  // app; nullptr if none matches. `path` must be normalised (router/uri.h:
  // the proxy does so before matching; prefixes are indexed normalised), so
  // that "/shop/../admin" is "/admin" here.
  const AppRoute* Match(std::string_view host_header, std::string_view path) const;
  // The app of that name; nullptr if none.
  const AppRoute* FindApp(std::string_view name) const;
  // True if app `app` has an instance labelled `label` in any arm (a binary
  // search per arm: instances are sorted by label).
  bool HasInstance(std::string_view app, std::string_view label) const;
};

struct TableOptions {
  std::string domain = "localhost";  // APP.<domain> selects APP
  std::string role = "web";          // registry entries of this role carry HTTP traffic
  std::string default_app;           // app for requests nothing else matches ("" = none)
};

// Returns the stats id of (app, commit); stable for the router's lifetime.
using StatsIdFn = std::function<uint32_t(const std::string& app, const std::string& commit)>;

// From registry state. Apps: every app with a RouteConfig or an endpoint of
// `role`. Per app: arms from RouteConfig (slices if valid, else LayoutFresh
// over weights in commit order) plus every commit with live endpoints of
// `role` (HEALTH_CRITICAL skipped). Weight and slice keys may abbreviate a
// commit (see Arm::commit; matched against all the app's endpoints, any role
// or health). With no weights, default_arm is the commit whose earliest
// registered_unix_ms is the latest (ties: larger commit string). Endpoint
// hosts that are names are resolved here (getaddrinfo, IPv4 preferred; an
// unresolvable one is left out): this one-shot form is for tests and tools;
// the daemon builds the same tables incrementally (router/table_build.h) with
// names from its resolver cache (router/resolver.h). Hosts: APP.<domain> plus RouteConfig.hosts;
// prefixes from RouteConfig.path_prefixes; when apps claim the same host or
// prefix, APP.<domain> wins, then the first app by name. RouteConfig.flight
// becomes AppRoute::flight; its control commit (which may abbreviate, like a
// weight key) is made an arm of the app.
std::shared_ptr<const RouteTable> BuildFromRegistry(const std::vector<v1::Endpoint>& endpoints,
                                                    const std::vector<v1::RouteConfig>& routes, int64_t revision,
                                                    const TableOptions& options, const StatsIdFn& stats_id);

// Static mode. JSON:
// {"default_app": "web",                       (optional)
//  "apps": [{"name": "web", "hosts": ["example.com"], "path_prefixes": ["/web/"],
//            "split_id": "s1", "allow_override": false,
//            "arms": [{"commit": "aaaa", "weight": 90, "upstreams": ["127.0.0.1:18101"]},
//                     {"commit": "bbbb", "weight": 10, "upstreams": ["127.0.0.1:18102"]}]}]}
// "hosts", "path_prefixes", "split_id" ("" = "default"), "allow_override",
// "flight" (a v1::FlightRoute in protobuf JSON: "control" names an arm's
// commit, "id" is the split id — taken as it when "split_id" is absent),
// "weight" (default 0) and "upstreams" (default none) are optional; at least
// one arm per app. Commits are any [A-Za-z0-9._-]{1,64} label (so benchmarks
// can use "a"/"b"). Slices are laid out in the file's arm order; with every
// weight 0 the first arm with upstreams takes all traffic. Upstreams are
// "HOST:PORT" / "[v6]:PORT"; names are resolved now (IPv4 preferred), and
// one that does not resolve is an error. A host or prefix may select one app
// only. "default_app" overrides options.default_app; either must name an app
// of the file. Unknown fields are errors. Every problem is reported with its
// JSON path (INVALID_ARGUMENT), e.g. "apps[0].arms[1].weight: must be an
// integer 0..1000000", joined by "; ".
Result<std::shared_ptr<const RouteTable>> LoadStaticRoutes(std::string_view json_text, int64_t revision,
                                                           const TableOptions& options, const StatsIdFn& stats_id);

// JSON for the admin's GET /routes:
// {"revision": N, "default_app": APP|null, "apps": {APP: {"split_id", "allow_override",
//   "hosts": [...], "path_prefixes": [...], "default_commit": COMMIT|null,
//   "arms": [{"commit", "weight", "share" (of traffic, 0..1), "slices": [[ge, lt], ...],
//             "instances": [label, ...], "stats_id"}],
//   "flight": null | {"name", "id", "control" (commit), "filter": {"channels", "oses",
//             "locales", "headers"}, "range": {"key" ("uid" for the user id), "ge", "lt"},
//             "end_by_unix_ms" (0 = none)}}}}
std::string RoutesJson(const RouteTable& table);

}  // namespace skyport::router
