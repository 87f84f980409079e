// The resolver cache's policy (router/resolver_cache.h), time as an input.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "router/resolver_cache.h"

namespace skyport::router {
namespace {

ResolverPolicy Policy() {
  ResolverPolicy p;
  p.refresh_ms = 30'000;
  p.retry = BackoffPolicy{500, 8'000, 2.0, 0.0};  // no jitter: exact times
  p.max_names = 3;
  return p;
}

Result<std::string> Ok(const std::string& a) { return a; }
Result<std::string> Fail() { return Status::NotFound("cannot resolve"); }

TEST_CASE("ResolverCache: a new name is a miss, due at once, then a hit until it is due again", "[router][resolver]") {
  ResolverCache c(Policy());
  const int64_t t = 1'000'000;
  CHECK(c.Lookup("app-1", t) == nullptr);
  CHECK(c.counters().misses == 1);
  CHECK(c.NextDueMs() == t);
  CHECK(c.TakeDue(t, 10) == std::vector<std::string>{"app-1"});
  CHECK(c.TakeDue(t, 10).empty());  // in flight: handed out once
  CHECK(c.NextDueMs() == INT64_MAX);
  CHECK(c.Lookup("app-1", t) == nullptr);  // still resolving

  auto out = c.OnResolved("app-1", Ok("10.0.0.1"), t + 5, 0.5);
  CHECK(out.changed);
  CHECK_FALSE(out.log_failure);
  REQUIRE(c.Lookup("app-1", t + 6));
  CHECK(*c.Lookup("app-1", t + 6) == "10.0.0.1");
  CHECK(c.counters().hits == 2);
  CHECK(c.NextDueMs() == t + 5 + 30'000);
  CHECK(c.TakeDue(t + 30'004, 10).empty());
  CHECK(c.TakeDue(t + 30'005, 10) == std::vector<std::string>{"app-1"});

  // The refresh finds the same address: nothing to rebuild.
  CHECK_FALSE(c.OnResolved("app-1", Ok("10.0.0.1"), t + 30'006, 0.5).changed);
  // The next one finds a new address: the apps using the name are rebuilt.
  REQUIRE(c.TakeDue(t + 60'006, 10).size() == 1);
  CHECK(c.OnResolved("app-1", Ok("10.0.0.9"), t + 60'006, 0.5).changed);
  CHECK(*c.Lookup("app-1", t + 60'007) == "10.0.0.9");
  CHECK(c.counters().changes == 2);
}

TEST_CASE("ResolverCache: failures back off, log once per run, and keep the last address", "[router][resolver]") {
  // Each row: resolve at `at` with `ok`; expected outcome and next due time.
  struct Row {
    int64_t at;
    bool ok;
    bool changed, log_failure, log_recovered;
    int64_t next_due;
    bool has_address;
  };
  const std::vector<Row> rows = {
      {0, false, false, true, false, 500, false},          // first failure: logged, retry in 0.5 s
      {500, false, false, false, false, 1'500, false},     // then 1 s, silent
      {1'500, false, false, false, false, 3'500, false},   // 2 s
      {3'500, false, false, false, false, 7'500, false},   // 4 s
      {7'500, false, false, false, false, 15'500, false},  // 8 s (the cap)
      {15'500, false, false, false, false, 23'500, false}, // still 8 s
      {23'500, true, true, false, true, 53'500, true},     // resolves: changed, recovery logged
      {53'500, false, false, true, false, 54'000, true},   // a new run of failures: logged again; address kept
      {54'000, true, false, false, true, 84'000, true},    // back, same address: nothing to rebuild
  };
  ResolverCache c(Policy());
  CHECK(c.Lookup("flaky", 0) == nullptr);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    INFO("row " << i);
    REQUIRE(c.TakeDue(r.at, 10) == std::vector<std::string>{"flaky"});
    auto out = c.OnResolved("flaky", r.ok ? Ok("10.0.0.1") : Fail(), r.at, 0.5);
    CHECK(out.changed == r.changed);
    CHECK(out.log_failure == r.log_failure);
    CHECK(out.log_recovered == r.log_recovered);
    CHECK(out.keeps_address == (!r.ok && i >= 7));  // failures after the first address keep it
    CHECK(c.NextDueMs() == r.next_due);
    CHECK((c.Lookup("flaky", r.at) != nullptr) == r.has_address);
  }
  CHECK(c.counters().failures == 7);
}

TEST_CASE("ResolverCache: bounded; released names go, even while being resolved", "[router][resolver]") {
  ResolverCache c(Policy());  // three names at most
  for (const char* n : {"a", "b", "c"}) CHECK(c.Lookup(n, 0) == nullptr);
  CHECK(c.Lookup("d", 0) == nullptr);
  CHECK(c.size() == 3);
  CHECK(c.counters().refused == 1);
  CHECK(c.TakeDue(0, 2).size() == 2);  // at most `max` per call
  const std::vector<std::string> rest = c.TakeDue(0, 10);
  REQUIRE(rest.size() == 1);

  c.Release(rest[0]);
  CHECK(c.size() == 2);
  auto out = c.OnResolved(rest[0], Ok("10.0.0.1"), 1, 0.5);  // answered after release: ignored
  CHECK_FALSE(out.changed);
  CHECK(c.size() == 2);
  CHECK(c.Lookup("d", 2) == nullptr);  // room again: admitted this time
  CHECK(c.size() == 3);
  CHECK(c.counters().refused == 1);
}

}  // namespace
}  // namespace skyport::router
