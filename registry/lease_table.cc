#include "registry/lease_table.h"

#include "registry/errors.h"

#include <algorithm>

#include <fmt/format.h>

namespace skyport::registry {

Lease& LeaseTable::Add(uint64_t id, uint32_t ttl_s, int64_t now_ms, int64_t grace_ms) {
  Erase(id);
  Lease& l = leases_[id];
  l.id = id;
  l.ttl_s = ttl_s;
  if (ttl_s > 0) {
    l.expires_ms = now_ms + std::max<int64_t>(int64_t{ttl_s} * 1000, grace_ms);
    by_expiry_.insert({l.expires_ms, id});
  }
  return l;
}

Result<uint32_t> LeaseTable::KeepAlive(uint64_t id, int64_t now_ms) {
  auto it = leases_.find(id);
  if (it == leases_.end() || (it->second.ttl_s > 0 && it->second.expires_ms <= now_ms))
    return ErrLeaseExpired(id);
  Lease& l = it->second;
  if (l.ttl_s > 0) {
    by_expiry_.erase({l.expires_ms, id});
    l.expires_ms = std::max(l.expires_ms, now_ms + int64_t{l.ttl_s} * 1000);
    by_expiry_.insert({l.expires_ms, id});
  }
  return l.ttl_s;
}

Lease* LeaseTable::Find(uint64_t id) {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

const Lease* LeaseTable::Find(uint64_t id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

void LeaseTable::Erase(uint64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  if (it->second.ttl_s > 0) by_expiry_.erase({it->second.expires_ms, id});
  leases_.erase(it);
}

std::vector<uint64_t> LeaseTable::Expired(int64_t now_ms) const {
  std::vector<uint64_t> out;
  for (auto it = by_expiry_.begin(); it != by_expiry_.end() && it->first <= now_ms; ++it)
    out.push_back(it->second);
  return out;
}

int64_t StalledMs(int64_t planned_wake_ms, int64_t now_ms, int64_t last_batch_ms) {
  const int64_t late = planned_wake_ms > 0 ? now_ms - planned_wake_ms : 0;
  return (late > kStallSlackMs ? late : 0) + (last_batch_ms > kStallSlackMs ? last_batch_ms : 0);
}

void LeaseTable::Postpone(int64_t delta_ms) {
  if (delta_ms <= 0) return;
  by_expiry_.clear();
  for (auto& [id, l] : leases_)
    if (l.ttl_s > 0) {
      l.expires_ms += delta_ms;
      by_expiry_.insert({l.expires_ms, id});
    }
}

std::optional<int64_t> LeaseTable::NextExpiryMs() const {
  if (by_expiry_.empty()) return std::nullopt;
  return by_expiry_.begin()->first;
}

std::vector<const Lease*> LeaseTable::All() const {
  std::vector<const Lease*> out;
  out.reserve(leases_.size());
  for (const auto& [id, l] : leases_) out.push_back(&l);
  return out;
}

}  // namespace skyport::registry
