// Rate limits for POST /_skyport/events: token buckets per user, per client
// address and per trusted (token-bearing) caller, as nginx's limit_req and
// Envoy's local rate limit do. Pure: the time is always an argument.
//
// A bucket holds up to `burst` tokens and refills at `rate` tokens a second;
// an events post costs one token per event (at most `burst`, so that one big
// post can pass a full bucket). A post the bucket cannot pay is refused whole
// (429) with the seconds after which it could pass (Retry-After); a refused
// post takes no tokens.
//
// The table of buckets is bounded (`max_entries`): a new key evicts the least
// recently used one. An evicted bucket was idle longest; when it had been
// idle burst/rate seconds it was full again, so forgetting it changes nothing.
#pragma once

#include <cstdint>
#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace skyport::router {

struct BucketLimits {
  double rate = 100;       // tokens per second (> 0)
  double burst = 1000;     // bucket size (>= 1)
  size_t max_entries = 65536;
};

struct RateDecision {
  bool allowed = true;
  int64_t retry_after_s = 0;  // when refused: >= 1
};

// Not thread-safe (see ShardedRateLimiter).
class TokenBuckets {
 public:
  explicit TokenBuckets(BucketLimits limits) : limits_(limits) {}

  // Takes min(cost, burst) tokens from `key`'s bucket at `now_ms` (any
  // clock that does not run backwards; a step back counts as no time).
  RateDecision Take(std::string_view key, double cost, int64_t now_ms);

  size_t size() const { return index_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Bucket {
    std::string key;
    double tokens;
    int64_t last_ms;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  BucketLimits limits_;
  std::list<Bucket> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Bucket>::iterator, Hash, std::equal_to<>> index_;
  uint64_t evictions_ = 0;
};

// TokenBuckets behind `shards` mutexes (keys spread by hash; each shard holds
// max_entries / shards), shared by the router's worker threads so that a
// client's connections spread over workers share one budget.
class ShardedRateLimiter {
 public:
  explicit ShardedRateLimiter(BucketLimits limits, size_t shards = 16);
  RateDecision Take(std::string_view key, double cost, int64_t now_ms);
  uint64_t evictions() const;
  size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    TokenBuckets buckets;
    explicit Shard(BucketLimits l) : buckets(l) {}
  };
  std::vector<std::unique_ptr<Shard>> shards_;
};

// The limits of POST /_skyport/events (router flags --events-*).
struct EventRateOptions {
  BucketLimits user{100, 1000, 65536};        // per user id (the cookie's)
  BucketLimits address{1000, 10000, 65536};   // per client address (IPv6: per /64)
  BucketLimits trusted{20000, 100000, 4096};  // per address of callers with the cluster token
  // New user ids minted (and exposures recorded for them) per client address
  // (--new-users-address-rate/-burst): page views without a cookie beyond it
  // are served, but no id is minted and no exposure is recorded.
  BucketLimits new_users{20, 200, 65536};
  bool trust_forwarded_for = false;           // limit by X-Forwarded-For's last hop instead of the peer
};

enum class LimitedBy { kNone, kUser, kAddress, kTrusted };

// The three limits of event posts, shared by the workers. Thread-safe.
class EventRateLimiter {
 public:
  explicit EventRateLimiter(const EventRateOptions& o)
      : user_(o.user),
        address_(o.address),
        trusted_(o.trusted),
        new_users_(o.new_users),
        trust_forwarded_for_(o.trust_forwarded_for) {}

  struct Decision {
    LimitedBy by = LimitedBy::kNone;  // kNone: allowed
    int64_t retry_after_s = 0;
  };
  // A post of `events` events: a trusted caller pays its address's trusted
  // bucket only; anyone else pays the address bucket, then (with a cookie
  // user, `user` not empty) the user's. `address` is the client address
  // (ClientAddress). Counts refusals.
  Decision Take(bool trusted, std::string_view address, std::string_view user, double events, int64_t now_ms);

  // A page view without a usable cookie from `address` (ClientAddress): may
  // the router mint a new user id and record its exposure? One token of the
  // address's new-user bucket; a refusal is counted (exposures_limited).
  bool TakeNewUser(std::string_view address, int64_t now_ms);
  uint64_t exposures_limited() const { return exposures_limited_.load(std::memory_order_relaxed); }

  bool trust_forwarded_for() const { return trust_forwarded_for_; }
  uint64_t limited(LimitedBy by) const { return limited_[static_cast<int>(by)].load(std::memory_order_relaxed); }
  uint64_t evictions() const {
    return user_.evictions() + address_.evictions() + trusted_.evictions() + new_users_.evictions();
  }

 private:
  ShardedRateLimiter user_, address_, trusted_, new_users_;
  std::atomic<uint64_t> exposures_limited_{0};
  const bool trust_forwarded_for_;
  std::atomic<uint64_t> limited_[4]{};
};

// The key of a client address for the per-address limit: an IPv4 address
// as is; an IPv6 address by its /64 (one host usually holds a whole /64);
// IPv4-mapped IPv6 as IPv4. Anything unparsable is kept verbatim.
std::string AddressKey(std::string_view address);

// The client address to limit by: the TCP peer, or with `trust_forwarded`
// (the router sits behind a proxy it trusts) the last address that proxy
// appended to X-Forwarded-For, when there is one.
std::string_view ClientAddress(std::string_view peer, std::string_view x_forwarded_for, bool trust_forwarded);

}  // namespace skyport::router
