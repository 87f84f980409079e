#include "router/resolver_cache.h"

#include <algorithm>
#include <climits>

namespace skyport::router {

const std::string* ResolverCache::Lookup(const std::string& name, int64_t now_ms) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    ++counters_.misses;
    if (entries_.size() >= policy_.max_names) {
      ++counters_.refused;
      return nullptr;
    }
    entries_.emplace(name, Entry{std::nullopt, now_ms, false, 0});
    return nullptr;
  }
  if (!it->second.address) {
    ++counters_.misses;
    return nullptr;
  }
  ++counters_.hits;
  return &*it->second.address;
}

void ResolverCache::Release(const std::string& name) { entries_.erase(name); }

std::vector<std::string> ResolverCache::TakeDue(int64_t now_ms, size_t max) {
  std::vector<std::string> out;
  for (auto& [name, e] : entries_) {
    if (out.size() >= max) break;
    if (e.in_flight || e.due_ms > now_ms) continue;
    e.in_flight = true;
    out.push_back(name);
  }
  return out;
}

int64_t ResolverCache::NextDueMs() const {
  int64_t next = INT64_MAX;
  for (const auto& [name, e] : entries_)
    if (!e.in_flight) next = std::min(next, e.due_ms);
  return next;
}

ResolverCache::Outcome ResolverCache::OnResolved(const std::string& name, const Result<std::string>& address,
                                                 int64_t now_ms, double jitter01) {
  Outcome out;
  auto it = entries_.find(name);
  if (it == entries_.end()) return out;  // released while it was being resolved
  Entry& e = it->second;
  e.in_flight = false;
  if (address.ok()) {
    out.log_recovered = e.failures > 0;
    e.failures = 0;
    if (!e.address || *e.address != *address) {
      e.address = *address;
      out.changed = true;
      ++counters_.changes;
    }
    e.due_ms = now_ms + policy_.refresh_ms;
    return out;
  }
  ++counters_.failures;
  // The last good address (if any) keeps serving: a resolver that is briefly
  // away must not take every instance on that host out of the table.
  out.log_failure = e.failures == 0;
  out.keeps_address = e.address.has_value();
  e.due_ms = now_ms + BackoffDelayMs(policy_.retry, e.failures, jitter01);
  ++e.failures;
  out.failures_in_a_row = e.failures;
  return out;
}

}  // namespace skyport::router
