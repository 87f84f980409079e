#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>

#include "router/rate_limit.h"

namespace skyport::router {
namespace {

TEST_CASE("TokenBuckets: a burst, then the rate", "[router][ratelimit]") {
  TokenBuckets b({/*rate=*/10, /*burst=*/20, /*max_entries=*/100});
  CHECK(b.Take("a", 20, 0).allowed);  // a full bucket pays the burst
  RateDecision d = b.Take("a", 1, 0);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_s == 1);
  CHECK_FALSE(b.Take("a", 1, 50).allowed);  // 0.5 tokens after 50 ms
  CHECK(b.Take("a", 1, 100).allowed);       // 1 token after 100 ms (the refused take cost nothing)
  CHECK(b.Take("b", 5, 100).allowed);       // another key has its own bucket
  // Retry-After is when the whole post could pass: 15 tokens at 10/s -> 2 s.
  d = b.Take("a", 15, 100);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_s == 2);
  CHECK(b.Take("a", 15, 1600).allowed);
  // Refill stops at the burst.
  CHECK(b.Take("a", 20, 1'000'000).allowed);
  CHECK_FALSE(b.Take("a", 1, 1'000'000).allowed);
}

TEST_CASE("TokenBuckets: a post larger than the burst costs the burst", "[router][ratelimit]") {
  TokenBuckets b({1, 5, 10});
  CHECK(b.Take("a", 1000, 0).allowed);
  RateDecision d = b.Take("a", 1000, 0);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_s == 5);
}

TEST_CASE("TokenBuckets: a clock step back adds no tokens", "[router][ratelimit]") {
  TokenBuckets b({10, 10, 10});
  CHECK(b.Take("a", 10, 5000).allowed);
  CHECK_FALSE(b.Take("a", 1, 1000).allowed);
  CHECK_FALSE(b.Take("a", 1, 5000).allowed);
  CHECK(b.Take("a", 1, 5100).allowed);
}

TEST_CASE("TokenBuckets: bounded, least recently used goes first", "[router][ratelimit]") {
  TokenBuckets b({1, 2, 3});
  for (int i = 0; i < 1000; ++i) b.Take(fmt::format("forged-{}", i), 1, 0);
  CHECK(b.size() == 3);
  CHECK(b.evictions() == 997);
  // An active key survives a churn of others when it is used between them.
  TokenBuckets c({1, 2, 3});
  CHECK(c.Take("flooder", 2, 0).allowed);
  for (int i = 0; i < 100; ++i) {
    c.Take(fmt::format("x{}", i), 1, 0);
    CHECK_FALSE(c.Take("flooder", 1, 0).allowed);
  }
  CHECK(c.size() == 3);
}

TEST_CASE("ShardedRateLimiter: one budget over threads, bounded", "[router][ratelimit]") {
  ShardedRateLimiter l({100, 100, 64}, 4);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += l.Take("10.0.0.1", 1, 0).allowed ? 1 : 0;
  CHECK(allowed == 100);
  for (int i = 0; i < 10'000; ++i) l.Take(fmt::format("u{}", i), 1, 0);
  CHECK(l.size() <= 64);
  CHECK(l.evictions() > 0);
}

TEST_CASE("AddressKey: IPv4 as is, IPv6 by /64, mapped IPv4 as IPv4", "[router][ratelimit]") {
  CHECK(AddressKey("127.0.0.1") == "127.0.0.1");
  CHECK(AddressKey("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(AddressKey("2001:db8:1:2:ffff:4:5:7") == "2001:db8:1:2::/64");
  CHECK(AddressKey("::ffff:10.1.2.3") == "10.1.2.3");
  CHECK(AddressKey("junk") == "junk");
}

TEST_CASE("ClientAddress: X-Forwarded-For only when trusted, its last hop", "[router][ratelimit]") {
  CHECK(ClientAddress("10.0.0.1", "1.2.3.4", false) == "10.0.0.1");
  CHECK(ClientAddress("10.0.0.1", "", true) == "10.0.0.1");
  CHECK(ClientAddress("10.0.0.1", "6.6.6.6, 1.2.3.4", true) == "1.2.3.4");
  CHECK(ClientAddress("10.0.0.1", " 2001:db8::1 ", true) == "2001:db8::1");
  CHECK(ClientAddress("10.0.0.1", "1.2.3.4, <script>", true) == "10.0.0.1");
  CHECK(ClientAddress("10.0.0.1", std::string(200, '1'), true) == "10.0.0.1");
}

TEST_CASE("EventRateLimiter: per address, per user, and its own budget for the trusted caller", "[router][ratelimit]") {
  EventRateOptions o;
  o.user = {10, 10, 100};
  o.address = {50, 50, 100};
  o.trusted = {500, 500, 100};
  EventRateLimiter l(o);
  // One user: 10 events, then 429 with Retry-After.
  CHECK(l.Take(false, "10.0.0.1", "alice", 10, 0).by == LimitedBy::kNone);
  auto d = l.Take(false, "10.0.0.1", "alice", 1, 0);
  CHECK(d.by == LimitedBy::kUser);
  CHECK(d.retry_after_s == 1);
  // Forged ids from one address: the address budget holds.
  int passed = 0;
  for (int i = 0; i < 100; ++i) passed += l.Take(false, "10.0.0.1", fmt::format("forged-{}", i), 1, 0).by == LimitedBy::kNone;
  CHECK(passed == 39);  // the refused post of alice paid its address
  CHECK(l.Take(false, "10.0.0.1", "bob", 1, 0).by == LimitedBy::kAddress);
  // Another address is not affected, nor is the trusted caller on the same address, which has a limit too.
  CHECK(l.Take(false, "10.0.0.2", "bob", 1, 0).by == LimitedBy::kNone);
  CHECK(l.Take(true, "10.0.0.1", "", 500, 0).by == LimitedBy::kNone);
  CHECK(l.Take(true, "10.0.0.1", "", 1, 0).by == LimitedBy::kTrusted);
  CHECK(l.limited(LimitedBy::kUser) == 1);
  CHECK(l.limited(LimitedBy::kAddress) == 62);
  CHECK(l.limited(LimitedBy::kTrusted) == 1);
  // A second later the budgets are back.
  CHECK(l.Take(false, "10.0.0.1", "alice", 5, 1000).by == LimitedBy::kNone);
  // IPv6: one /64 is one address.
  CHECK(l.Take(false, "2001:db8::1", "", 50, 0).by == LimitedBy::kNone);
  CHECK(l.Take(false, "2001:db8::ffff", "", 1, 0).by == LimitedBy::kAddress);
}

TEST_CASE("EventRateLimiter: new user ids per address (a GET flood mints no exposures), others unaffected",
          "[router][ratelimit]") {
  EventRateOptions o;
  o.new_users = {5, 20, 100};
  EventRateLimiter l(o);
  int minted = 0;
  for (int i = 0; i < 1000; ++i) minted += l.TakeNewUser("127.0.0.9", 0);
  CHECK(minted == 20);  // the burst, then nothing
  CHECK(l.exposures_limited() == 980);
  // A real user on another address still gets an id; the flooder's events budget is separate.
  CHECK(l.TakeNewUser("127.0.0.2", 0));
  CHECK(l.Take(false, "127.0.0.9", "", 1, 0).by == LimitedBy::kNone);
  // A second later: the rate (5) again.
  minted = 0;
  for (int i = 0; i < 100; ++i) minted += l.TakeNewUser("127.0.0.9", 1000);
  CHECK(minted == 5);
  // IPv6 by /64.
  for (int i = 0; i < 20; ++i) CHECK(l.TakeNewUser(fmt::format("2001:db8::{:x}", i + 1), 0));
  CHECK_FALSE(l.TakeNewUser("2001:db8::ffff", 0));
}

}  // namespace
}  // namespace skyport::router
