// Per-host port allocations. A port is live on a host from the moment it is
// allocated (or registered explicitly) until its entry or lease goes away;
// the allocator never hands out a live port.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
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

class PortAllocator {
 public:
  PortAllocator(uint32_t lo, uint32_t hi) : lo_(lo), hi_(hi) {}

  // A free port in [lo, hi] on `host`, scanning upwards (wrapping) from a
  // start chosen by `random`. RESOURCE_EXHAUSTED when every port is live.
  Result<uint32_t> PickFree(const std::string& host, uint64_t random) const;

  const Allocation* Find(const PortKey& key) const;
  Allocation* FindMutable(const PortKey& key);
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
  uint32_t lo_, hi_;
  std::unordered_map<std::string, std::map<uint32_t, Allocation>> by_host_;
  size_t size_ = 0;
};

}  // namespace skyport::registry
