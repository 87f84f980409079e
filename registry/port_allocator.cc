#include "registry/port_allocator.h"

#include <algorithm>

#include <fmt/format.h>

namespace skyport::registry {

Result<uint32_t> PortAllocator::PickFree(const std::string& host, uint64_t random,
                                         const std::vector<uint32_t>& avoid) const {
  const uint64_t n = static_cast<uint64_t>(hi_) - lo_ + 1;
  auto avoided = [&](uint32_t p) { return std::find(avoid.begin(), avoid.end(), p) != avoid.end(); };
  static const std::map<uint32_t, Allocation> kNone;
  auto it_host = by_host_.find(host);
  if (it_host == by_host_.end() && avoid.empty()) return static_cast<uint32_t>(lo_ + random % n);
  const auto& used = it_host == by_host_.end() ? kNone : it_host->second.ports;
  // Explicit registrations may sit outside the range: only in-range ports count.
  if (it_host != by_host_.end() && it_host->second.in_range >= n)
    return Status::ResourceExhausted(
        fmt::format("no free port on {} in {}-{}: all {} are live", host, lo_, hi_, n));
  uint32_t p = static_cast<uint32_t>(lo_ + random % n);
  for (int pass = 0; pass < 2; ++pass) {
    auto it = used.lower_bound(p);
    while (p <= hi_) {
      if ((it == used.end() || it->first != p) && !avoided(p)) return p;
      if (it != used.end() && it->first == p) ++it;
      ++p;
    }
    p = lo_;
  }
  return Status::ResourceExhausted(fmt::format("no free port on {} in {}-{}{}", host, lo_, hi_,
                                               avoid.empty() ? "" : " (some are taken outside the cluster)"));
}

const Allocation* PortAllocator::Find(const PortKey& key) const {
  auto h = by_host_.find(key.host);
  if (h == by_host_.end()) return nullptr;
  auto it = h->second.ports.find(key.port);
  return it == h->second.ports.end() ? nullptr : &it->second;
}

const Allocation* PortAllocator::FindPending(const Allocation& like) const {
  auto it = pending_.find(KeyOf(like));
  return it == pending_.end() ? nullptr : Find({like.host, it->second});
}

void PortAllocator::Unindex(const Allocation& a) {
  if (a.endpoint_id != 0) return;
  auto it = pending_.find(KeyOf(a));
  if (it != pending_.end() && it->second == a.port) pending_.erase(it);
}

void PortAllocator::Put(Allocation a) {
  Host& h = by_host_[a.host];
  auto it = h.ports.find(a.port);
  if (it != h.ports.end()) {
    Unindex(it->second);
  } else {
    ++size_;
    if (a.port >= lo_ && a.port <= hi_) ++h.in_range;
  }
  if (a.endpoint_id == 0) pending_[KeyOf(a)] = a.port;
  h.ports.insert_or_assign(a.port, std::move(a));
}

void PortAllocator::Erase(const PortKey& key) {
  auto h = by_host_.find(key.host);
  if (h == by_host_.end()) return;
  auto it = h->second.ports.find(key.port);
  if (it == h->second.ports.end()) return;
  Unindex(it->second);
  if (key.port >= lo_ && key.port <= hi_) --h->second.in_range;
  h->second.ports.erase(it);
  --size_;
  if (h->second.ports.empty()) by_host_.erase(h);
}

std::vector<Allocation> PortAllocator::All() const {
  std::vector<Allocation> out;
  out.reserve(size_);
  for (const auto& [host, h] : by_host_)
    for (const auto& [port, a] : h.ports) out.push_back(a);
  return out;
}

}  // namespace skyport::registry
