#include "registry/errors.h"

#include <fmt/format.h>

namespace skyport::registry {

// NOT_FOUND, as KeepAlive answers: a holder that learns it from a Register or an
// Allocate grants a new lease at once instead of waiting for its next keep-alive.
Status ErrUnknownLease(uint64_t id) {
  return Status::NotFound(fmt::format("lease_id: unknown lease {} (expired or revoked; grant a new one)", id));
}

Status ErrLeaseExpired(uint64_t id) {
  return Status::NotFound(fmt::format("lease_id: lease {} is unknown or expired; grant a new one", id));
}

Status ErrLeaseGone(uint64_t id) {
  return Status::NotFound(fmt::format("lease_id: lease {} is unknown or already gone", id));
}

Status ErrTtlTooLong(uint32_t ttl_s, uint32_t max_ttl_s) {
  return Status::InvalidArgument(
      fmt::format("ttl_seconds: {} exceeds {} (use 0 for an entry that never expires)", ttl_s, max_ttl_s));
}

Status ErrPortLive(const std::string& field, const Allocation& live) {
  return Status::AlreadyExists(fmt::format("{}: {}:{} is live for another holder ({}@{} {})", field, live.host,
                                           live.port, live.app, live.commit.substr(0, 12), live.role));
}

Status ErrNotAllocatedTo(const std::string& host, uint32_t port, uint64_t lease_id) {
  return Status::NotFound(fmt::format("port: {}:{} is not allocated to lease {}", host, port, lease_id));
}

Status ErrPortCarriesEntry(const std::string& host, uint32_t port, uint64_t endpoint_id) {
  return Status::FailedPrecondition(
      fmt::format("port: {}:{} carries entry {}; deregister it instead", host, port, endpoint_id));
}

Status ErrNoEntry(uint64_t id) {
  return Status::NotFound(fmt::format("id: no entry {} (already freed, or its lease expired)", id));
}

Status ErrNoRoute(const std::string& app) {
  return Status::NotFound(fmt::format("app: no route config for \"{}\"", app));
}

Status ErrRouteRevision(const std::string& app, int64_t current, int64_t expected) {
  return Status::FailedPrecondition(
      fmt::format("route {}: revision is {}, expected {}; read it again and retry", app, current, expected));
}

}  // namespace skyport::registry
