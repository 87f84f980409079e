// Per-host port allocations. A port is live on a host from the moment it is
// allocated (or registered explicitly) until its entry or lease goes away;
// the allocator never hands out a live port.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace skyport::registry {

struct PortKey {
  std::string host;
  uint32_t port = 0;
  auto operator<=>(const PortKey&) const = default;
};

struct Allocation {
  std::string host;
  uint32_t port = 0;
  uint64_t lease_id = 0;
  std::string app, commit, role;
  uint32_t instance = 0;
  uint64_t endpoint_id = 0;  // 0 until an endpoint is registered on it
};

// Who a port is for: the same four fields on requests, endpoints and
// allocations (any message with app(), commit(), role(), instance()).
template <class M>
void SetIdentity(Allocation& a, const M& m) {
  a.app = m.app();
  a.commit = m.commit();
  a.role = m.role();
  a.instance = m.instance();
}

// The allocation an endpoint holds: its host and port, for its lease,
// registered as entry `m.id()`.
template <class M>
Allocation AllocationOf(const M& m) {
  Allocation a;
  a.host = m.host();
  a.port = m.port();
  a.lease_id = m.lease_id();
  SetIdentity(a, m);
  a.endpoint_id = m.id();
  return a;
}

class PortAllocator {
 public:
  PortAllocator(uint32_t lo, uint32_t hi) : lo_(lo), hi_(hi) {}

  // A free port in [lo, hi] on `host`, not in `avoid`, scanning upwards
  // (wrapping) from a start chosen by `random`. RESOURCE_EXHAUSTED when
  // every port is live or avoided.
  Result<uint32_t> PickFree(const std::string& host, uint64_t random, const std::vector<uint32_t>& avoid = {}) const;

  const Allocation* Find(const PortKey& key) const;
  // An unregistered allocation made earlier for the same holder and identity,
  // so that a retried Allocate returns the same port.
  const Allocation* FindPending(const Allocation& like) const;
  void Put(Allocation a);
  void Erase(const PortKey& key);
  size_t size() const { return size_; }
  std::vector<Allocation> All() const;

  uint32_t lo() const { return lo_; }
  uint32_t hi() const { return hi_; }

 private:
  struct Host {
    std::map<uint32_t, Allocation> ports;
    size_t in_range = 0;  // live ports inside [lo, hi]
  };
  // Identity of an unregistered allocation, for FindPending in O(log n).
  using PendingKey = std::tuple<std::string, uint64_t, std::string, std::string, std::string, uint32_t>;
  static PendingKey KeyOf(const Allocation& a) {
    return {a.host, a.lease_id, a.app, a.commit, a.role, a.instance};
  }
  void Unindex(const Allocation& a);

  uint32_t lo_, hi_;
  std::unordered_map<std::string, Host> by_host_;
  std::map<PendingKey, uint32_t> pending_;  // unregistered allocations -> port
  size_t size_ = 0;
};

}  // namespace skyport::registry
