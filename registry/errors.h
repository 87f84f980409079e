// The statuses both stores answer with, so that a client sees the same code
// and message whichever backend serves it (clients act on the codes: a
// NOT_FOUND lease makes a holder grant a new one at once).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "registry/port_allocator.h"

namespace skyport::registry {

Status ErrUnknownLease(uint64_t id);   // Allocate, Register: grant a new one
Status ErrLeaseExpired(uint64_t id);   // KeepAlive
Status ErrLeaseGone(uint64_t id);      // Revoke
Status ErrTtlTooLong(uint32_t ttl_s, uint32_t max_ttl_s);
// ALREADY_EXISTS: `field` names host:port, held live by `live`'s holder.
Status ErrPortLive(const std::string& field, const Allocation& live);
Status ErrNotAllocatedTo(const std::string& host, uint32_t port, uint64_t lease_id);  // ReleasePort
Status ErrPortCarriesEntry(const std::string& host, uint32_t port, uint64_t endpoint_id);
Status ErrNoEntry(uint64_t id);        // Deregister
Status ErrNoRoute(const std::string& app);
Status ErrRouteRevision(const std::string& app, int64_t current, int64_t expected);

}  // namespace skyport::registry
