#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "router/events.h"

namespace skyport::router {
namespace {

constexpr int64_t kHour0 = 1'699'999'200;  // an hour start (1'700'000'000 rounded down)
const std::string kAlice = "0123456789abcdef0123456789abcdef";
const std::string kBob = "fedcba9876543210fedcba9876543210";

// Drains `agg` and returns its rows sorted (MergeRows leaves distinct keys alone).
std::vector<UserEventRow> DrainSorted(EventAggregator& agg) {
  std::vector<UserEventRow> rows;
  agg.Drain(rows);
  return MergeRows(std::move(rows));
}

UserEventRow Row(std::string event, std::string user, int64_t hour, uint64_t count, double sum, double sum_squares,
                 std::string arm = "c1") {
  return {"shop", "f1", std::move(arm), std::move(event), std::move(user), hour, count, sum, sum_squares};
}

// ---------------------------------------------------------------- time buckets

TEST_CASE("BucketStart: hours and days", "[router][events]") {
  CHECK(BucketStart(0, Granularity::kHour) == 0);
  CHECK(BucketStart(3599, Granularity::kHour) == 0);
  CHECK(BucketStart(3600, Granularity::kHour) == 3600);
  CHECK(BucketStart(1'700'000'000, Granularity::kHour) == kHour0);
  CHECK(BucketStart(-1, Granularity::kHour) == -3600);
  CHECK(BucketStart(86'399, Granularity::kDay) == 0);
  CHECK(BucketStart(86'400, Granularity::kDay) == 86'400);
  CHECK(BucketStart(1'735'689'599, Granularity::kDay) == 1'735'603'200);  // 2024-12-31 23:59:59
  CHECK(BucketStart(-1, Granularity::kDay) == -86'400);
}

TEST_CASE("BucketStart: ISO weeks start on Monday 00:00 UTC", "[router][events]") {
  CHECK(BucketStart(0, Granularity::kWeek) == -259'200);           // Thu 1970-01-01 -> Mon 1969-12-29
  CHECK(BucketStart(345'599, Granularity::kWeek) == -259'200);     // Sun 1970-01-04 23:59:59
  CHECK(BucketStart(345'600, Granularity::kWeek) == 345'600);      // Mon 1970-01-05
  CHECK(BucketStart(1'704'067'200, Granularity::kWeek) == 1'704'067'200);  // Mon 2024-01-01
  CHECK(BucketStart(1'704'067'199, Granularity::kWeek) == 1'703'462'400);  // -> Mon 2023-12-25
  CHECK(BucketStart(1'735'689'599, Granularity::kWeek) == 1'735'516'800);  // Tue 2024-12-31 -> Mon 12-30
  CHECK(BucketStart(1'609'459'200, Granularity::kWeek) == 1'609'113'600);  // Fri 2021-01-01 -> Mon 2020-12-28
  for (int64_t t = 1'609'113'600; t < 1'609'113'600 + 21 * 86'400; t += 3'599) {
    int64_t w = BucketStart(t, Granularity::kWeek);
    REQUIRE(w <= t);
    REQUIRE(t - w < 7 * 86'400);
    REQUIRE((w - 1'609'113'600) % (7 * 86'400) == 0);
  }
}

TEST_CASE("BucketStart: calendar months, leap years and month ends", "[router][events]") {
  CHECK(BucketStart(0, Granularity::kMonth) == 0);
  CHECK(BucketStart(-1, Granularity::kMonth) == -2'678'400);                   // -> 1969-12-01
  CHECK(BucketStart(1'709'208'000, Granularity::kMonth) == 1'706'745'600);     // 2024-02-29 12:00 -> 02-01
  CHECK(BucketStart(1'709'251'199, Granularity::kMonth) == 1'706'745'600);     // 2024-02-29 23:59:59
  CHECK(BucketStart(1'709'251'200, Granularity::kMonth) == 1'709'251'200);     // 2024-03-01
  CHECK(BucketStart(1'677'628'799, Granularity::kMonth) == 1'675'209'600);     // 2023-02-28 23:59:59
  CHECK(BucketStart(951'782'400, Granularity::kMonth) == 949'363'200);         // 2000-02-29 (leap: /400)
  CHECK(BucketStart(4'107'542'399, Granularity::kMonth) == 4'105'123'200);     // 2100-02-28 23:59:59 (not leap)
  CHECK(BucketStart(4'107'542'400, Granularity::kMonth) == 4'107'542'400);     // 2100-03-01
  CHECK(BucketStart(1'704'067'199, Granularity::kMonth) == 1'701'388'800);     // 2023-12-31 -> 12-01
  CHECK(BucketStart(1'704'067'200, Granularity::kMonth) == 1'704'067'200);     // 2024-01-01
}

TEST_CASE("Granularity names round-trip; others are refused", "[router][events]") {
  for (Granularity g : {Granularity::kHour, Granularity::kDay, Granularity::kWeek, Granularity::kMonth})
    CHECK(ParseGranularity(GranularityName(g)) == g);
  CHECK(ParseGranularity("month") == Granularity::kMonth);
  for (const char* bad : {"", "Hour", "year", "days", "week "}) CHECK(!ParseGranularity(bad).has_value());
}

// ---------------------------------------------------------------- aggregation

TEST_CASE("EventAggregator: sums per key; Drain hands everything over and clears", "[router][events]") {
  EventAggregator agg;
  auto scope = agg.Scope("shop", "f1", "c1");
  CHECK(agg.Add(scope, "purchase", kAlice, 10, kHour0 + 5));
  CHECK(agg.Add(scope, "purchase", kAlice, 2.5, kHour0 + 3599));
  CHECK(agg.Add(scope, "purchase", kAlice, 1, kHour0 + 3600));  // next hour
  CHECK(agg.Add(scope, "purchase", kBob, 4, kHour0));
  CHECK(agg.Add(scope, "signup", kBob, 0, kHour0));
  CHECK(agg.Add("shop", "f1", "c2", "signup", "alice@example.com", 0, kHour0));
  CHECK(agg.Add(scope, "signup", "ABCDEF0123456789ABCDEF0123456789", 0, kHour0));  // not lowercase: kept verbatim
  CHECK(agg.size() == 6);

  const std::vector<UserEventRow> want = {
      Row("purchase", kAlice, kHour0, 2, 12.5, 106.25),
      Row("purchase", kAlice, kHour0 + 3600, 1, 1, 1),
      Row("purchase", kBob, kHour0, 1, 4, 16),
      Row("signup", "ABCDEF0123456789ABCDEF0123456789", kHour0, 1, 0, 0),
      Row("signup", kBob, kHour0, 1, 0, 0),
      Row("signup", "alice@example.com", kHour0, 1, 0, 0, "c2"),
  };
  CHECK(DrainSorted(agg) == MergeRows(want));
  CHECK(agg.size() == 0);
  CHECK(DrainSorted(agg).empty());

  // After a drain new scope ids are handed out; the strings stay right.
  auto other = agg.Scope("blog", "", "c9");
  CHECK(agg.Add(other, "read", kAlice, 1, kHour0));
  auto rows = DrainSorted(agg);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0] == UserEventRow{"blog", "", "c9", "read", kAlice, kHour0, 1, 1, 1});
}

TEST_CASE("EventAggregator: scopes are told apart field by field", "[router][events]") {
  EventAggregator agg;
  CHECK(agg.Scope("a", "bc", "d") != agg.Scope("ab", "c", "d"));
  CHECK(agg.Scope("a", "b", "c") == agg.Scope("a", "b", "c"));
  CHECK(agg.Add("a", "bc", "d", "e", kAlice, 1, kHour0));
  CHECK(agg.Add("ab", "c", "d", "e", kAlice, 1, kHour0));
  CHECK(DrainSorted(agg).size() == 2);
}

TEST_CASE("EventAggregator: one exposure row per (user, arm, hour), remembered across drains", "[router][events]") {
  EventAggregator agg;
  for (int i = 0; i < 1000; ++i) CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kHour0 + i));
  CHECK(agg.AddExposure("shop", "f1", "c2", kAlice, kHour0));  // another arm
  CHECK(agg.AddExposure("shop", "f1", "c1", "server-user:7", kHour0));
  CHECK(DrainSorted(agg) == std::vector<UserEventRow>{
                                Row("$exposure", kAlice, kHour0, 1, 0, 0),
                                Row("$exposure", "server-user:7", kHour0, 1, 0, 0),
                                Row("$exposure", kAlice, kHour0, 1, 0, 0, "c2"),
                            });
  // Same hour after a drain: nothing new, for cookie ids and other ids alike.
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kHour0 + 10));
  CHECK(agg.AddExposure("shop", "f1", "c1", "server-user:7", kHour0 + 10));
  CHECK(agg.size() == 0);
  // The next hour is new; the previous one is still remembered.
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kHour0 + 3600));
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kHour0 + 20));
  CHECK(DrainSorted(agg) == std::vector<UserEventRow>{Row("$exposure", kAlice, kHour0 + 3600, 1, 0, 0)});
  // Two hours on, the first hour is forgotten: a late exposure makes a row again (merged by max).
  CHECK(agg.AddExposure("shop", "f1", "c1", kBob, kHour0 + 7200));
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kHour0 + 30));
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kHour0 + 40));
  CHECK(DrainSorted(agg) == std::vector<UserEventRow>{Row("$exposure", kAlice, kHour0, 1, 0, 0),
                                                      Row("$exposure", kBob, kHour0 + 7200, 1, 0, 0)});
  // A jump of several hours forgets everything older.
  CHECK(agg.AddExposure("shop", "f1", "c1", kBob, kHour0 + 5 * 3600));
  CHECK(agg.AddExposure("shop", "f1", "c1", kBob, kHour0 + 7200));
  CHECK(agg.size() == 2);
}

TEST_CASE("EventAggregator: a full exposure memory still records, only without remembering", "[router][events]") {
  AggregatorLimits limits;
  limits.max_exposure_memory = 2;
  EventAggregator agg(limits);
  for (const std::string& u : {kAlice, kBob, std::string("carol")}) CHECK(agg.AddExposure("s", "f", "a", u, kHour0));
  CHECK(DrainSorted(agg).size() == 3);
  for (const std::string& u : {kAlice, kBob, std::string("carol")}) CHECK(agg.AddExposure("s", "f", "a", u, kHour0));
  auto rows = DrainSorted(agg);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].user == "carol");
}

TEST_CASE("EventAggregator: max_keys bounds the rows; the caller counts refusals", "[router][events]") {
  AggregatorLimits limits;
  limits.max_keys = 3;
  EventAggregator agg(limits);
  auto scope = agg.Scope("shop", "f1", "c1");
  CHECK(agg.Add(scope, "a", kAlice, 1, kHour0));
  CHECK(agg.Add(scope, "b", "user-1", 1, kHour0));
  CHECK(agg.AddExposure(scope, kBob, kHour0));
  CHECK(!agg.Add(scope, "c", kAlice, 1, kHour0));          // new event name
  CHECK(!agg.Add(scope, "a", "user-2", 1, kHour0));        // new user
  CHECK(!agg.Add(scope, "a", kBob, 1, kHour0));            // new key of known parts
  CHECK(!agg.Add(scope, "a", kAlice, 1, kHour0 + 3600));   // new hour
  CHECK(!agg.AddExposure(scope, kAlice, kHour0));          // refused, so not remembered either
  CHECK(agg.Add(scope, "a", kAlice, 2, kHour0));           // existing keys still count
  CHECK(agg.AddExposure(scope, kBob, kHour0));
  CHECK(agg.size() == 3);
  auto rows = DrainSorted(agg);
  CHECK(rows.size() == 3);
  CHECK(rows[1] == Row("a", kAlice, kHour0, 2, 3, 5));
  scope = agg.Scope("shop", "f1", "c1");
  CHECK(agg.AddExposure(scope, kAlice, kHour0));  // room again after the drain
  CHECK(agg.size() == 1);
}

TEST_CASE("EventAggregator: the last quarter of max_keys is kept for users it has served", "[router][events]") {
  AggregatorLimits limits;
  limits.max_keys = 8;  // 6 for anyone, the last 2 for users in the exposure memory
  EventAggregator agg(limits);
  auto scope = agg.Scope("shop", "f1", "c1");
  CHECK(agg.AddExposure(scope, kAlice, kHour0));  // a real user, served a page
  int forged = 0;
  for (int i = 0; i < 100; ++i) forged += agg.Add(scope, "buy", fmt::format("forged-{}", i), 1, kHour0) ? 1 : 0;
  CHECK(forged == 5);  // up to 6 keys with Alice's exposure
  CHECK(!agg.AddExposure(scope, kBob, kHour0));      // a new user's exposure: not from the reserve
  CHECK(!agg.Add(scope, "buy", kBob, 1, kHour0));    // nor a user never served
  CHECK(agg.Add(scope, "buy", kAlice, 3, kHour0));   // Alice still counts
  CHECK(agg.Add(scope, "cart", kAlice, 1, kHour0));
  CHECK(!agg.Add(scope, "view", kAlice, 1, kHour0));  // max_keys is the hard bound
  CHECK(agg.size() == 8);
  // Without the reserve (a journal replay) every key counts alike.
  limits.reserve_for_exposed = false;
  EventAggregator replay(limits);
  scope = replay.Scope("shop", "f1", "c1");
  forged = 0;
  for (int i = 0; i < 100; ++i) forged += replay.Add(scope, "buy", fmt::format("forged-{}", i), 1, kHour0) ? 1 : 0;
  CHECK(forged == 8);
}

TEST_CASE("EventAggregator: rows the hub would refuse are never made", "[router][events]") {
  EventAggregator agg;
  CHECK(!agg.Add("shop", "f1", "c1", "buy", "", 1, kHour0));
  CHECK(!agg.Add("shop", "f1", "c1", "", kAlice, 1, kHour0));
  CHECK(!agg.Add("", "f1", "c1", "buy", kAlice, 1, kHour0));
  CHECK(!agg.Add("shop", "f1", "", "buy", kAlice, 1, kHour0));
  CHECK(!agg.AddExposure("shop", "f1", "c1", "", kHour0));
  CHECK(!agg.AddExposure("shop", "f1", "", kAlice, kHour0));
  CHECK(agg.size() == 0);
  CHECK(agg.Add("shop", "", "c1", "buy", kAlice, 1, kHour0));  // outside flights
  CHECK(agg.size() == 1);
}

// ---------------------------------------------------------------- merging

TEST_CASE("MergeRows: sums add up, exposure counts take the maximum", "[router][events]") {
  auto merged = MergeRows({Row("buy", kAlice, kHour0, 2, 3, 5), Row("$exposure", kAlice, kHour0, 1, 0, 0),
                           Row("buy", kAlice, kHour0, 1, -1, 1), Row("$exposure", kAlice, kHour0, 1, 0, 0),
                           Row("buy", kAlice, kHour0 + 3600, 1, 1, 1)});
  CHECK(merged == std::vector<UserEventRow>{Row("$exposure", kAlice, kHour0, 1, 0, 0),
                                            Row("buy", kAlice, kHour0, 3, 2, 6),
                                            Row("buy", kAlice, kHour0 + 3600, 1, 1, 1)});
  CHECK(MergeRows({}).empty());
}

std::vector<UserEventRow> RandomRows(std::mt19937_64& rng, size_t n) {
  std::vector<UserEventRow> rows;
  for (size_t i = 0; i < n; ++i) {
    bool exposure = rng() % 4 == 0;
    double v = exposure ? 0 : static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000);  // exact sums
    rows.push_back(Row(exposure ? "$exposure" : fmt::format("e{}", rng() % 3), fmt::format("u{}", rng() % 4),
                       kHour0 + 3600 * static_cast<int64_t>(rng() % 2), exposure ? 1 : 1 + rng() % 3, v, v * v,
                       fmt::format("c{}", rng() % 2)));
  }
  return rows;
}

std::vector<UserEventRow> Concat(std::vector<UserEventRow> a, const std::vector<UserEventRow>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_CASE("MergeRows is associative and commutative", "[router][events]") {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    auto a = RandomRows(rng, 40), b = RandomRows(rng, 40), c = RandomRows(rng, 40);
    auto left = MergeRows(Concat(MergeRows(Concat(a, b)), c));
    auto right = MergeRows(Concat(a, MergeRows(Concat(b, c))));
    CHECK(left == right);
    auto shuffled = Concat(Concat(c, a), b);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    CHECK(MergeRows(shuffled) == left);
    CHECK(MergeRows(left) == left);
  }
}

TEST_CASE("Adds split across two aggregators merge to what one aggregator sees", "[router][events]") {
  std::mt19937_64 rng(7);
  EventAggregator one, two[2];
  std::vector<UserEventRow> rows_one, rows_two;
  const std::string users[] = {kAlice, kBob, "server:1", "server:2"};
  for (int i = 0; i < 5000; ++i) {
    std::string arm = fmt::format("c{}", rng() % 2);
    const std::string& user = users[rng() % 4];
    int64_t t = kHour0 + static_cast<int64_t>(rng() % 3) * 3600 + static_cast<int64_t>(rng() % 3600);
    EventAggregator& other = two[rng() % 2];
    if (rng() % 3 == 0) {
      CHECK(one.AddExposure("shop", "f1", arm, user, t));
      CHECK(other.AddExposure("shop", "f1", arm, user, t));
    } else {
      std::string event = fmt::format("e{}", rng() % 3);
      double v = static_cast<double>(rng() % 1000) / 4;  // exact in binary
      CHECK(one.Add("shop", "f1", arm, event, user, v, t));
      CHECK(other.Add("shop", "f1", arm, event, user, v, t));
    }
    if (rng() % 500 == 0) one.Drain(rows_one);  // drains in between change nothing
    if (rng() % 700 == 0) two[rng() % 2].Drain(rows_two);
  }
  one.Drain(rows_one);
  two[0].Drain(rows_two);
  two[1].Drain(rows_two);
  auto merged = MergeRows(rows_one);
  CHECK(merged.size() > 50);
  CHECK(MergeRows(rows_two) == merged);
}

}  // namespace
}  // namespace skyport::router
