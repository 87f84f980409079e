#include "core/address_order.h"

#include <algorithm>

namespace skyport {

AddressOrder::AddressOrder(std::vector<std::string> listed, AddressBackoff backoff) : backoff_(backoff) {
  for (std::string& a : listed) entries_.push_back(Entry{std::move(a), true});
}

std::vector<std::string> AddressOrder::Order(int64_t now_ms) const {
  std::vector<std::string> out;
  std::vector<const Entry*> waiting;
  out.reserve(entries_.size());
  const Entry* first = nullptr;
  for (const Entry& e : entries_)
    if (e.address == last_ && e.retry_at_ms <= now_ms) first = &e;
  if (first) out.push_back(first->address);
  for (const Entry& e : entries_) {
    if (&e == first) continue;
    if (e.retry_at_ms <= now_ms) out.push_back(e.address);
    else waiting.push_back(&e);
  }
  // Stable: among equally due ones, the operator's order decides.
  std::stable_sort(waiting.begin(), waiting.end(),
                   [](const Entry* a, const Entry* b) { return a->retry_at_ms < b->retry_at_ms; });
  for (const Entry* e : waiting) out.push_back(e->address);
  return out;
}

AddressOrder::Entry& AddressOrder::Find(const std::string& address, int64_t now_ms) {
  for (Entry& e : entries_)
    if (e.address == address) return e;
  size_t learnt = 0;
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->listed) continue;
    ++learnt;
    if (oldest == entries_.end() || it->touched_ms < oldest->touched_ms) oldest = it;
  }
  if (learnt >= kMaxLearnt) {
    if (oldest->address == last_) last_.clear();
    entries_.erase(oldest);
  }
  entries_.push_back(Entry{address, false, 0, 0, now_ms});
  return entries_.back();
}

void AddressOrder::Answered(const std::string& address, int64_t now_ms) {
  Entry& e = Find(address, now_ms);
  e.failures = 0;
  e.retry_at_ms = 0;
  e.touched_ms = now_ms;
  last_ = address;
}

void AddressOrder::Failed(const std::string& address, int64_t now_ms) {
  Entry& e = Find(address, now_ms);
  e.failures = std::min(e.failures + 1, 30);
  int64_t delay = backoff_.initial_ms;
  for (int i = 1; i < e.failures && delay < backoff_.max_ms; ++i) delay *= 2;
  e.retry_at_ms = now_ms + std::min(delay, backoff_.max_ms);
  e.touched_ms = now_ms;
}

int AddressOrder::failures(const std::string& address) const {
  for (const Entry& e : entries_)
    if (e.address == address) return e.failures;
  return 0;
}

}  // namespace skyport
