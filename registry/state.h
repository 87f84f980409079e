// The registry's whole state and the rules that change it. Pure: no I/O,
// no threads, no clock; callers pass monotonic/wall time and randomness.
//
// Every mutating call either fails without changing anything, or applies the
// change, bumps the revision once (if anything a watcher sees changed), and
// records what it touched in `Changes` for the store and the watchers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "registry/event_log.h"
#include "registry/lease_table.h"
#include "registry/port_allocator.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

struct StateOptions {
  uint32_t port_lo = 10000;
  uint32_t port_hi = 20000;
  int64_t history = 10000;      // revisions kept for Watch resume
  uint32_t max_ttl_s = 86400;
};

// What a batch of calls touched: keys whose current value the store must
// write (or delete, when absent), and the events for watchers and the log.
struct Changes {
  std::vector<v1::Event> events;
  std::set<uint64_t> leases;
  std::set<uint64_t> endpoints;
  std::set<PortKey> allocations;
  std::set<std::string> routes;
  bool empty() const {
    return events.empty() && leases.empty() && endpoints.empty() && allocations.empty() && routes.empty();
  }
};

// What the store hands back after a restart.
struct Persisted {
  int64_t revision = 0;
  uint64_t next_lease_id = 1;
  uint64_t next_endpoint_id = 1;
  std::vector<std::pair<uint64_t, uint32_t>> leases;  // id, ttl
  std::vector<Allocation> allocations;
  std::vector<v1::Endpoint> endpoints;
  std::vector<v1::RouteConfig> routes;
  std::vector<v1::Event> events;  // revision order
};

class RegistryState {
 public:
  explicit RegistryState(StateOptions opts);

  Result<v1::GrantResponse> Grant(uint32_t ttl_s, int64_t now_ms, Changes& ch);
  Result<uint32_t> KeepAlive(uint64_t lease_id, int64_t now_ms);
  Result<uint32_t> Revoke(uint64_t lease_id, Changes& ch);  // -> entries removed
  Result<uint32_t> Allocate(const v1::AllocateRequest& req, uint64_t random, Changes& ch);
  // Frees an unregistered allocation held by `lease_id`.
  Status ReleasePort(const std::string& host, uint32_t port, uint64_t lease_id, Changes& ch);
  Result<uint64_t> Register(const v1::Endpoint& ep, int64_t now_wall_ms, Changes& ch);
  Status Deregister(uint64_t id, Changes& ch);
  // Removes every lease whose time is up; returns how many.
  size_t ExpireLeases(int64_t now_ms, Changes& ch);
  void PostponeLeases(int64_t delta_ms) { leases_.Postpone(delta_ms); }
  std::optional<int64_t> NextExpiryMs() const { return leases_.NextExpiryMs(); }

  Result<v1::RouteConfig> GetRoute(const std::string& app) const;
  Result<int64_t> PutRoute(const v1::RouteConfig& route, std::optional<int64_t> expected, Changes& ch);
  Result<int64_t> DeleteRoute(const std::string& app, std::optional<int64_t> expected, Changes& ch);

  // Empty filters match everything; `commit_prefix` matches a prefix;
  // `lease_id` != 0: only that lease's entries (NOT_FOUND if it is gone).
  Result<std::vector<v1::Endpoint>> Query(const std::string& app, const std::string& commit_prefix,
                                          const std::string& role, uint64_t lease_id = 0) const;
  // Everything (or one app's part) as SNAPSHOT messages of at most
  // `chunk` endpoints each; the last one has more == false.
  std::vector<v1::WatchResponse> Snapshot(const std::string& app, size_t chunk) const;
  // Events after `from` for `app` ("" = all), or nullopt: take a snapshot.
  std::optional<std::vector<v1::Event>> EventsSince(int64_t from, const std::string& app) const;

  // Rebuilds from what the store kept. Leases get `grace_ms` (or their TTL,
  // if longer) from `now_ms` for their holders to come back.
  void Restore(Persisted p, int64_t now_ms, int64_t grace_ms);
  // Drops history older than the window; call after events are stored.
  void TrimHistory() { log_.Trim(revision_); }

  int64_t revision() const { return revision_; }
  uint64_t next_lease_id() const { return next_lease_id_; }
  uint64_t next_endpoint_id() const { return next_endpoint_id_; }
  int64_t history() const { return opts_.history; }
  const v1::Endpoint* FindEndpoint(uint64_t id) const;
  const v1::RouteConfig* FindRoute(const std::string& app) const;
  const std::map<std::string, v1::RouteConfig>& routes() const { return routes_; }
  const Lease* FindLease(uint64_t id) const { return leases_.Find(id); }
  const Allocation* FindAllocation(const PortKey& k) const { return ports_.Find(k); }
  size_t endpoint_count() const { return endpoints_.size(); }
  size_t lease_count() const { return leases_.size(); }
  size_t allocation_count() const { return ports_.size(); }

 private:
  // Removes an endpoint and its port; records the delete event at `rev`.
  void RemoveEndpoint(uint64_t id, int64_t rev, Changes& ch);
  void Emit(v1::Event e, Changes& ch);
  void IndexEndpoint(const v1::Endpoint& ep);

  StateOptions opts_;
  int64_t revision_ = 0;
  uint64_t next_lease_id_ = 1;
  uint64_t next_endpoint_id_ = 1;
  LeaseTable leases_;
  PortAllocator ports_;
  std::map<uint64_t, v1::Endpoint> endpoints_;
  std::unordered_map<std::string, std::set<uint64_t>> by_app_;
  std::map<std::string, v1::RouteConfig> routes_;
  EventLog log_;
};

}  // namespace skyport::registry
