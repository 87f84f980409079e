// Leases: a TTL that the holder renews; when it lapses, everything held by the
// lease goes at once. Times are monotonic milliseconds passed in by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "registry/port_allocator.h"

namespace skyport::registry {

struct Lease {
  uint64_t id = 0;
  uint32_t ttl_s = 0;       // 0: never expires
  int64_t expires_ms = 0;   // meaningless when ttl_s == 0
  std::set<uint64_t> endpoints;
  std::set<PortKey> allocations;
};

// The registry's loop turns at least once every kLoopMaxIdleMs. A turn that
// begins more than kStallSlackMs after it was planned to at the latest, or a
// batch that took longer than that (a disk that stalled a commit), is time the
// registry itself was not running — a stopped process, a paused machine — when
// no holder could renew and their keep-alives queued up: it does not count
// against their leases, or a pause of the registry alone would expire every
// lease in the cluster the moment it resumes, before those keep-alives are
// read. Returns how long to postpone every lease by (0: a normal turn). A
// first turn has planned_wake_ms 0 and last_batch_ms 0.
inline constexpr int64_t kLoopMaxIdleMs = 100;
inline constexpr int64_t kStallSlackMs = 250;
int64_t StalledMs(int64_t planned_wake_ms, int64_t now_ms, int64_t last_batch_ms);

class LeaseTable {
 public:
  // Adds a lease that expires `ttl_s` seconds after `now_ms` (or
  // `max(ttl, grace)` after, for leases restored after a restart).
  Lease& Add(uint64_t id, uint32_t ttl_s, int64_t now_ms, int64_t grace_ms = 0);
  // Renews; NOT_FOUND when the lease is unknown or has already lapsed.
  Result<uint32_t> KeepAlive(uint64_t id, int64_t now_ms);
  Lease* Find(uint64_t id);
  const Lease* Find(uint64_t id) const;
  void Erase(uint64_t id);
  // Ids of leases whose time is up at `now_ms`, soonest first.
  std::vector<uint64_t> Expired(int64_t now_ms) const;
  // Moves every expiring lease's deadline `delta_ms` later (see StalledMs).
  void Postpone(int64_t delta_ms);
  std::optional<int64_t> NextExpiryMs() const;
  size_t size() const { return leases_.size(); }
  std::vector<const Lease*> All() const;

 private:
  std::unordered_map<uint64_t, Lease> leases_;
  std::set<std::pair<int64_t, uint64_t>> by_expiry_;
};

}  // namespace skyport::registry
