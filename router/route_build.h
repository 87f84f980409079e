// Internal to the router's route tables: the steps BuildFromRegistry and
// LoadStaticRoutes share once each has turned its input into drafts.
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "router/route_table.h"
#include "contract/split.h"

namespace skyport::router::internal {

struct ArmDraft {
  uint32_t weight = 0;
  std::vector<Instance> instances;
  // The default arm (used when no arm has weight) is the arm with instances
  // of the highest rank; ties go to the larger commit.
  int64_t rank = INT64_MIN;
};

struct AppDraft {
  std::string name;
  std::string split_id;  // "" -> "default"
  bool allow_override = false;
  std::map<std::string, ArmDraft> arms;    // by commit
  std::vector<Slice> layout;               // each slice's commit is a key of `arms`
  std::vector<std::string> hosts;          // extra hosts, as configured
  std::vector<std::string> path_prefixes;  // as configured
  std::optional<v1::FlightRoute> flight;
  std::string flight_control;              // the control's commit: a key of `arms`
};

// Sorts instances, drops duplicates, asks for stats ids and turns the layout
// into ArmFor's slice table, and compiles the flight. Hosts and prefixes are
// copied; IndexTable decides which of them the app wins.
AppRoute FinishApp(AppDraft draft, const StatsIdFn& stats_id);

// Fills by_host (APP.<domain> of every app first, then each app's extra
// hosts in app order; the first claim of a host wins), by_prefix (longest
// first; the first claim wins), by_name, default_app, and `selectors` (per
// app, the hosts and prefixes that select it; hosts sorted). Reads the apps,
// never changes them: they may be shared with other tables.
void IndexTable(RouteTable& table, std::string_view domain, std::string_view default_app);

// Lowercase, without a trailing '.'; "" stays "".
std::string NormalizeHost(std::string_view host);

// "host:port", "[v6]:port".
std::string InstanceLabel(std::string_view host, int port);

// An IPv4 or IPv6 address in text form (not a name to resolve).
bool IsNumericHost(const std::string& host);

// A numeric IPv4/IPv6 address stays as it is; a name is resolved with
// getaddrinfo, preferring IPv4. NOT_FOUND (with the resolver's reason) if
// it does not resolve.
Result<std::string> ResolveHost(const std::string& host);

// A request path prefix: skyport::uri::ValidatePathPrefix (core/uri_path.h).
inline constexpr size_t kMaxPathPrefixes = 32;

}  // namespace skyport::router::internal
