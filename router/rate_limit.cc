#include "router/rate_limit.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace skyport::router {

RateDecision TokenBuckets::Take(std::string_view key, double cost, int64_t now_ms) {
  cost = std::clamp(cost, 0.0, limits_.burst);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (index_.size() >= std::max<size_t>(1, limits_.max_entries)) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++evictions_;
    }
    lru_.push_front(Bucket{std::string(key), limits_.burst, now_ms});
    it = index_.emplace(lru_.front().key, lru_.begin()).first;
  } else if (it->second != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  Bucket& b = *it->second;
  if (now_ms > b.last_ms) {
    b.tokens = std::min(limits_.burst, b.tokens + limits_.rate * static_cast<double>(now_ms - b.last_ms) / 1000.0);
    b.last_ms = now_ms;
  }
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return {};
  }
  const double wait_s = (cost - b.tokens) / limits_.rate;
  return {false, std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s)))};
}

ShardedRateLimiter::ShardedRateLimiter(BucketLimits limits, size_t shards) {
  shards = std::max<size_t>(1, shards);
  BucketLimits per = limits;
  per.max_entries = std::max<size_t>(1, limits.max_entries / shards);
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>(per));
}

RateDecision ShardedRateLimiter::Take(std::string_view key, double cost, int64_t now_ms) {
  Shard& s = *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  std::lock_guard lock(s.mu);
  return s.buckets.Take(key, cost, now_ms);
}

uint64_t ShardedRateLimiter::evictions() const {
  uint64_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->buckets.evictions();
  }
  return n;
}

size_t ShardedRateLimiter::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    n += s->buckets.size();
  }
  return n;
}

EventRateLimiter::Decision EventRateLimiter::Take(bool trusted, std::string_view address, std::string_view user,
                                                  double events, int64_t now_ms) {
  const std::string key = AddressKey(address);
  Decision d;
  if (trusted) {
    RateDecision r = trusted_.Take(key, events, now_ms);
    if (!r.allowed) d = {LimitedBy::kTrusted, r.retry_after_s};
  } else if (RateDecision r = address_.Take(key, events, now_ms); !r.allowed) {
    d = {LimitedBy::kAddress, r.retry_after_s};
  } else if (!user.empty()) {
    if (RateDecision u = user_.Take(user, events, now_ms); !u.allowed) d = {LimitedBy::kUser, u.retry_after_s};
  }
  if (d.by != LimitedBy::kNone) limited_[static_cast<int>(d.by)].fetch_add(1, std::memory_order_relaxed);
  return d;
}

bool EventRateLimiter::TakeNewUser(std::string_view address, int64_t now_ms) {
  if (new_users_.Take(AddressKey(address), 1, now_ms).allowed) return true;
  exposures_limited_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::string AddressKey(std::string_view address) {
  std::string a(address);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6.s6_addr, kMapped, 12) == 0)
      return fmt::format("{}.{}.{}.{}", v6.s6_addr[12], v6.s6_addr[13], v6.s6_addr[14], v6.s6_addr[15]);
    std::memset(v6.s6_addr + 8, 0, 8);
    char buf[INET6_ADDRSTRLEN];
    if (::inet_ntop(AF_INET6, &v6, buf, sizeof buf) != nullptr) return std::string(buf) + "/64";
  }
  return a;
}

std::string_view ClientAddress(std::string_view peer, std::string_view x_forwarded_for, bool trust_forwarded) {
  if (!trust_forwarded) return peer;
  std::string_view v = x_forwarded_for;
  if (auto comma = v.rfind(','); comma != std::string_view::npos) v = v.substr(comma + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  // Only an address-shaped value (no room for a flood of distinct junk keys of any length).
  if (v.empty() || v.size() > 45 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':'; }))
    return peer;
  return v;
}

}  // namespace skyport::router
