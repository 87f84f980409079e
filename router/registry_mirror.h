// The router's copy of what it needs of the registry's state: every endpoint
// (only the fields routing reads), grouped by app, and every route config.
// It applies the Watch stream's snapshots and deltas and remembers which apps
// they touched, so that a new route table rebuilds only those apps
// (router/table_build.h). It also counts, per host name, the endpoints of the
// routed role that use it: the resolver cache keeps exactly the names in use.
// Pure: no I/O, no clock, no threads (the registry watch's apply thread owns
// one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "skyport/v1/registry.pb.h"

namespace skyport::router {

struct MirrorEndpoint {
  std::string commit;
  bool routed_role = false;  // role == the router's --role
  std::string host;          // as registered
  uint32_t port = 0;
  v1::Health health = v1::HEALTH_UNKNOWN;
  int64_t registered_unix_ms = 0;
  bool numeric = false;      // host is an IPv4/IPv6 address: no resolver needed

  // Could carry traffic (its host still has to resolve, unless numeric).
  bool Routable() const {
    return routed_role && health != v1::HEALTH_CRITICAL && port > 0 && port <= 65535;
  }
};

// An endpoint's key in its app: its instance label ("host:port" / "[v6]:port",
// InstanceLabel) and registry id. Kept in this order, a build walks the
// endpoints already sorted as the table's instance lists are: no sort of
// 100k labels per table.
using EndpointKey = std::pair<std::string, uint64_t>;

struct MirrorApp {
  std::map<EndpointKey, MirrorEndpoint> endpoints;
  const v1::RouteConfig* route = nullptr;                  // into RegistryMirror's routes; null if none
  std::map<std::string, size_t> commits;  // commit -> endpoints of any role: what weight keys may abbreviate
  size_t routed = 0;  // endpoints of the routed role (any health)
};

class RegistryMirror {
 public:
  explicit RegistryMirror(std::string role) : role_(std::move(role)) {}
  RegistryMirror(RegistryMirror&&) = default;
  RegistryMirror& operator=(RegistryMirror&&) = default;

  // One Watch event (ENDPOINT_PUT / _DELETE, ROUTE_PUT / _DELETE; others are
  // ignored). A put of an endpoint that moved to another app touches both.
  void Apply(const v1::Event& event);
  void PutEndpoint(const v1::Endpoint& ep);
  void DeleteEndpoint(uint64_t id);
  void PutRoute(const v1::RouteConfig& route);
  void DeleteRoute(const std::string& app);

  // Replaces everything with `next` (a completed snapshot): every app of
  // either is touched; hosts in use only before are reported as released.
  void ReplaceWith(RegistryMirror next);

  // Apps changed since the last call (an app that went away is included).
  std::set<std::string> TakeTouched();
  bool has_touched() const { return !touched_.empty(); }
  // Host names no endpoint of the routed role uses any more, since the last call.
  std::vector<std::string> TakeReleasedHosts();

  const MirrorApp* Find(const std::string& app) const;
  const std::map<std::string, MirrorApp>& apps() const { return apps_; }
  // Apps with endpoints of the routed role on `host`; null if none.
  const std::map<std::string, size_t>* AppsUsingHost(const std::string& host) const;
  size_t endpoint_count() const { return where_.size(); }
  size_t host_count() const { return hosts_.size(); }
  const std::string& role() const { return role_; }

 private:
  void Remove(uint64_t id);
  void UseHost(const std::string& host, const std::string& app, int delta);
  void DropIfEmpty(const std::string& app);

  std::string role_;
  std::map<std::string, MirrorApp> apps_;                 // sorted: tables list apps by name
  std::map<std::string, v1::RouteConfig> routes_;         // by app; MirrorApp::route points here
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> where_;  // endpoint id -> app, label
  std::unordered_map<std::string, std::map<std::string, size_t>> hosts_;  // host -> app -> routed endpoints
  std::set<std::string> touched_;
  std::vector<std::string> released_;
};

}  // namespace skyport::router
