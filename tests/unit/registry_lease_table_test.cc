#include <catch2/catch.hpp>

#include "registry/lease_table.h"

namespace skyport::registry {
namespace {

constexpr int64_t kT0 = 1'000'000;

TEST_CASE("LeaseTable: expires at exactly now + ttl", "[registry][lease]") {
  LeaseTable t;
  Lease& l = t.Add(1, 10, kT0);
  CHECK(l.id == 1);
  CHECK(l.ttl_s == 10);
  CHECK(l.expires_ms == kT0 + 10'000);
  struct Row {
    int64_t now;
    bool expired;
  };
  const Row rows[] = {{kT0, false}, {kT0 + 9'999, false}, {kT0 + 10'000, true}, {kT0 + 50'000, true}};
  for (const Row& r : rows) {
    INFO("now " << r.now);
    CHECK(t.Expired(r.now) == (r.expired ? std::vector<uint64_t>{1} : std::vector<uint64_t>{}));
  }
  CHECK(t.KeepAlive(1, kT0 + 9'999).ok());
}

TEST_CASE("LeaseTable: KeepAlive extends from now; on expiry -> NOT_FOUND", "[registry][lease]") {
  LeaseTable t;
  t.Add(7, 10, kT0);
  auto k = t.KeepAlive(7, kT0 + 6'000);
  REQUIRE(k.ok());
  CHECK(*k == 10);
  CHECK(t.Find(7)->expires_ms == kT0 + 16'000);
  CHECK(t.Expired(kT0 + 15'999).empty());
  CHECK(t.Expired(kT0 + 16'000) == std::vector<uint64_t>{7});
  CHECK(t.NextExpiryMs() == kT0 + 16'000);

  auto late = t.KeepAlive(7, kT0 + 16'000);
  REQUIRE_FALSE(late.ok());
  CHECK(late.status().code() == Code::kNotFound);
  CHECK_THAT(late.status().message(), Catch::StartsWith("lease_id: lease 7"));
  // A failed KeepAlive changes nothing.
  CHECK(t.Find(7)->expires_ms == kT0 + 16'000);

  auto unknown = t.KeepAlive(99, kT0);
  CHECK(unknown.status().code() == Code::kNotFound);
}

TEST_CASE("LeaseTable: KeepAlive never shortens a grace period", "[registry][lease]") {
  LeaseTable t;
  t.Add(1, 5, kT0, /*grace_ms=*/60'000);
  CHECK(t.Find(1)->expires_ms == kT0 + 60'000);
  REQUIRE(t.KeepAlive(1, kT0 + 1'000).ok());
  CHECK(t.Find(1)->expires_ms == kT0 + 60'000);
  REQUIRE(t.KeepAlive(1, kT0 + 59'000).ok());
  CHECK(t.Find(1)->expires_ms == kT0 + 64'000);
}

TEST_CASE("LeaseTable: grace on Add is max(ttl, grace)", "[registry][lease]") {
  struct Row {
    uint32_t ttl_s;
    int64_t grace_ms;
    int64_t want_expiry;
  };
  const Row rows[] = {{10, 0, kT0 + 10'000}, {10, 3'000, kT0 + 10'000}, {10, 30'000, kT0 + 30'000},
                      {10, 10'000, kT0 + 10'000}};
  for (const Row& r : rows) {
    LeaseTable t;
    t.Add(1, r.ttl_s, kT0, r.grace_ms);
    CHECK(t.Find(1)->expires_ms == r.want_expiry);
  }
}

TEST_CASE("LeaseTable: ttl 0 never expires, even with grace", "[registry][lease]") {
  LeaseTable t;
  t.Add(1, 0, kT0);
  t.Add(2, 0, kT0, 5'000);
  CHECK(t.Expired(INT64_MAX).empty());
  CHECK_FALSE(t.NextExpiryMs().has_value());
  auto k = t.KeepAlive(1, INT64_MAX);
  REQUIRE(k.ok());
  CHECK(*k == 0);
  CHECK(t.size() == 2);
}

TEST_CASE("LeaseTable: Expired and NextExpiryMs are soonest first", "[registry][lease]") {
  LeaseTable t;
  t.Add(1, 30, kT0);
  t.Add(2, 10, kT0);
  t.Add(3, 20, kT0);
  t.Add(4, 0, kT0);
  t.Add(5, 10, kT0 + 1);
  CHECK(t.NextExpiryMs() == kT0 + 10'000);
  CHECK(t.Expired(kT0 + 10'000) == std::vector<uint64_t>{2});
  CHECK(t.Expired(kT0 + 25'000) == std::vector<uint64_t>{2, 5, 3});
  CHECK(t.Expired(kT0 + 30'000) == std::vector<uint64_t>{2, 5, 3, 1});
  t.Erase(2);
  CHECK(t.NextExpiryMs() == kT0 + 10'001);
  t.Erase(5);
  t.Erase(3);
  t.Erase(1);
  CHECK_FALSE(t.NextExpiryMs().has_value());
  CHECK(t.size() == 1);
}

TEST_CASE("LeaseTable: re-Add replaces the lease and its expiry", "[registry][lease]") {
  LeaseTable t;
  Lease& l = t.Add(1, 10, kT0);
  l.endpoints.insert(5);
  t.Add(1, 20, kT0);
  CHECK(t.size() == 1);
  CHECK(t.Find(1)->endpoints.empty());
  CHECK(t.Expired(kT0 + 10'000).empty());
  CHECK(t.Expired(kT0 + 20'000) == std::vector<uint64_t>{1});
}

TEST_CASE("LeaseTable: Find/Erase/All", "[registry][lease]") {
  LeaseTable t;
  t.Add(1, 10, kT0);
  t.Add(2, 0, kT0);
  const LeaseTable& ct = t;
  CHECK(ct.Find(1) != nullptr);
  CHECK(ct.Find(3) == nullptr);
  CHECK(t.All().size() == 2);
  t.Erase(1);
  t.Erase(1);
  t.Erase(42);
  CHECK(t.Find(1) == nullptr);
  CHECK(t.Expired(INT64_MAX).empty());
  REQUIRE(t.All().size() == 1);
  CHECK(t.All()[0]->id == 2);
}

TEST_CASE("StalledMs: a turn far later than planned, or a slow batch, counts as a stall", "[registry][lease]") {
  CHECK(StalledMs(0, kT0, 0) == 0);  // first turn
  CHECK(StalledMs(kT0, kT0 - 50, 3) == 0);  // woken early by a call
  CHECK(StalledMs(kT0, kT0 + kStallSlackMs, kStallSlackMs) == 0);  // scheduling slack
  CHECK(StalledMs(kT0, kT0 + 9'000, 0) == 9'000);  // stopped for 9 s while idle
  CHECK(StalledMs(kT0, kT0, 4'000) == 4'000);  // a commit that stalled 4 s
  CHECK(StalledMs(kT0, kT0 + 1'000, 2'000) == 3'000);
}

TEST_CASE("LeaseTable: Postpone moves every expiring lease, not the permanent ones", "[registry][lease]") {
  LeaseTable t;
  t.Add(1, 2, kT0);  // expires kT0 + 2000
  t.Add(2, 5, kT0);  // kT0 + 5000
  t.Add(3, 0, kT0);  // never
  // The registry was stopped from kT0 + 500 to kT0 + 10'500: everything would lapse at once.
  CHECK(t.Expired(kT0 + 10'500).size() == 2);
  t.Postpone(StalledMs(kT0 + 1'500, kT0 + 10'500, 0));  // 9 s
  CHECK(t.Expired(kT0 + 10'500).empty());
  CHECK(t.Find(1)->expires_ms == kT0 + 11'000);
  CHECK(t.NextExpiryMs() == kT0 + 11'000);
  CHECK(t.Expired(kT0 + 11'000) == std::vector<uint64_t>{1});
  // A keep-alive that comes in now renews as usual.
  REQUIRE(t.KeepAlive(1, kT0 + 10'600).ok());
  CHECK(t.Find(1)->expires_ms == kT0 + 12'600);
  t.Postpone(0);
  t.Postpone(-5);
  CHECK(t.Find(2)->expires_ms == kT0 + 14'000);
}

}  // namespace
}  // namespace skyport::registry
