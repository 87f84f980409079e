// Route tables from the registry mirror, rebuilt per app. A table built after
// a delta shares, by pointer, every app the delta did not touch with the
// table before it; only the touched apps are built again, and the indexes
// (host, prefix, name) are redone over the app list. Pure: names come from a
// lookup the caller provides (the daemon's resolver cache, or getaddrinfo in
// the one-shot BuildFromRegistry), never from the network here.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "router/registry_mirror.h"
#include "router/route_table.h"

namespace skyport::router {

// A host name's address for this build, or nullptr when it has none (yet):
// the endpoints on it are left out until it resolves. Called once per name
// per app at most; numeric hosts are never asked.
using HostLookupFn = std::function<const std::string*(const std::string& host)>;

// One app as BuildFromRegistry documents it; nullptr when the app has neither
// a route config nor an endpoint of the routed role (it is not in the table).
// `*unresolved` counts its routable endpoints left out for want of an address.
std::shared_ptr<const AppRoute> BuildApp(const std::string& name, const MirrorApp& app, const HostLookupFn& lookup,
                                         const StatsIdFn& stats_id, size_t* unresolved);

struct TableDelta {
  std::map<std::string, std::shared_ptr<const AppRoute>> rebuilt;  // by name; nullptr: the app is gone
  std::set<std::string> unresolved;  // touched apps with endpoints still waiting for an address
};

// Builds every app of `touched` from `mirror` (an app missing there is gone).
TableDelta BuildTouched(const RegistryMirror& mirror, const std::set<std::string>& touched,
                        const HostLookupFn& lookup, const StatsIdFn& stats_id);

// The next table: `prev`'s apps (null prev: none), each replaced or dropped
// as `rebuilt` says, plus the new ones, in name order; then indexed.
std::shared_ptr<const RouteTable> NextTable(const RouteTable* prev,
                                            const std::map<std::string, std::shared_ptr<const AppRoute>>& rebuilt,
                                            int64_t revision, const TableOptions& options);

}  // namespace skyport::router
