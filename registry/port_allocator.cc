#include "registry/port_allocator.h"

#include <fmt/format.h>

namespace skyport::registry {

Result<uint32_t> PortAllocator::PickFree(const std::string& host, uint64_t random) const {
  const uint64_t n = static_cast<uint64_t>(hi_) - lo_ + 1;
  auto it_host = by_host_.find(host);
  if (it_host == by_host_.end()) return static_cast<uint32_t>(lo_ + random % n);
  const auto& used = it_host->second;
  // Count only the live ports inside the range: explicit registrations may
  // sit outside it.
  auto first = used.lower_bound(lo_);
  auto last = used.upper_bound(hi_);
  if (static_cast<uint64_t>(std::distance(first, last)) >= n)
    return Status::ResourceExhausted(
        fmt::format("no free port on {} in {}-{}: all {} are live", host, lo_, hi_, n));
  uint32_t p = static_cast<uint32_t>(lo_ + random % n);
  for (int pass = 0; pass < 2; ++pass) {
    auto it = used.lower_bound(p);
    while (p <= hi_) {
      if (it == used.end() || it->first != p) return p;
      ++p;
      ++it;
    }
    p = lo_;
  }
  return Status::ResourceExhausted(fmt::format("no free port on {} in {}-{}", host, lo_, hi_));
}

const Allocation* PortAllocator::Find(const PortKey& key) const {
  auto h = by_host_.find(key.host);
  if (h == by_host_.end()) return nullptr;
  auto it = h->second.find(key.port);
  return it == h->second.end() ? nullptr : &it->second;
}

Allocation* PortAllocator::FindMutable(const PortKey& key) {
  return const_cast<Allocation*>(static_cast<const PortAllocator*>(this)->Find(key));
}

const Allocation* PortAllocator::FindPending(const Allocation& like) const {
  auto h = by_host_.find(like.host);
  if (h == by_host_.end()) return nullptr;
  for (const auto& [port, a] : h->second)
    if (a.endpoint_id == 0 && a.lease_id == like.lease_id && a.app == like.app &&
        a.commit == like.commit && a.role == like.role && a.instance == like.instance)
      return &a;
  return nullptr;
}

void PortAllocator::Put(Allocation a) {
  auto& m = by_host_[a.host];
  auto [it, inserted] = m.insert_or_assign(a.port, std::move(a));
  if (inserted) ++size_;
}

void PortAllocator::Erase(const PortKey& key) {
  auto h = by_host_.find(key.host);
  if (h == by_host_.end()) return;
  if (h->second.erase(key.port) > 0) --size_;
  if (h->second.empty()) by_host_.erase(h);
}

std::vector<Allocation> PortAllocator::All() const {
  std::vector<Allocation> out;
  out.reserve(size_);
  for (const auto& [host, m] : by_host_)
    for (const auto& [port, a] : m) out.push_back(a);
  return out;
}

}  // namespace skyport::registry
