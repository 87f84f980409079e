// What `skyport-registry migrate` copies, in a form both stores read into and
// compare: leases (id, TTL), allocations, endpoints and routes. Pure.
//
// Revisions are not copied (each store counts its own; watchers of the new
// store start from a snapshot), nor is the SQLite store's event history.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "registry/port_allocator.h"
#include "registry/state.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

struct MigrationData {
  std::map<uint64_t, uint32_t> leases;  // id -> TTL seconds (0 = never expires)
  std::map<PortKey, Allocation> allocations;
  std::map<uint64_t, v1::Endpoint> endpoints;  // revision cleared
  std::map<std::string, v1::RouteConfig> routes;  // revision cleared
  // The unregistered allocation that answers its identity's retried Allocate
  // (at most one per lease, host and identity): the last one the store
  // lists, as RegistryState::Restore reads them — the SQLite store lists its
  // rows in the order they were written, the etcd store lists the one its
  // identity index names last. Each store writes it so.
  std::set<PortKey> answering;
  int64_t revision = 0;  // the source's, for the SQLite store's counter
  size_t size() const { return leases.size() + allocations.size() + endpoints.size() + routes.size(); }
};

// The live part of what a store holds, as RegistryState::Restore reads it:
// allocations and endpoints of leases that are gone are dropped; an
// endpoint's port is allocated to it whatever the allocation rows say; an
// allocation naming an endpoint that is not there is only reserved; per
// identity, the last unregistered allocation in `p.allocations` answers.
MigrationData Normalize(const Persisted& p);

// "" when equal; else the first difference, e.g. "endpoint 12: port 15000 in
// the source, 15001 in the destination".
std::string FirstDifference(const MigrationData& source, const MigrationData& dest);

}  // namespace skyport::registry
