#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>

#include "hub/stats_store.h"
#include "test_util.h"

using skyport::hub::StatsStore;
using skyport::testing::TempDir;
namespace v1 = skyport::v1;

namespace {

// 2026-11-23 is a Monday.
constexpr int64_t kMon = 1795392000;  // 2026-11-23T00:00:00Z
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

v1::UserEventRow Row(const std::string& arm, const std::string& event, const std::string& user, int64_t hour,
                     uint64_t count, double sum = 0, double sum_sq = 0) {
  v1::UserEventRow r;
  r.set_app("webapp");
  r.set_arm(arm);
  r.set_event(event);
  r.set_user(user);
  r.set_hour_unix_s(hour);
  r.set_count(count);
  r.set_sum(sum);
  r.set_sum_squares(sum_sq);
  return r;
}

v1::ShipStatsRequest Batch(const std::string& router, uint64_t id, std::vector<v1::UserEventRow> rows) {
  v1::ShipStatsRequest req;
  req.set_router(router);
  req.set_batch_id(id);
  for (auto& r : rows) *req.add_rows() = std::move(r);
  return req;
}

v1::StatsQuery Query(const std::string& event, const std::string& by = "") {
  v1::StatsQuery q;
  q.set_app("webapp");
  q.set_event(event);
  q.set_by(by);
  return q;
}

std::map<std::pair<std::string, int64_t>, v1::ArmBucket> ByArmBucket(const v1::StatsReport& r) {
  std::map<std::pair<std::string, int64_t>, v1::ArmBucket> out;
  for (const auto& row : r.rows()) out[{row.arm(), row.bucket_unix_s()}] = row;
  return out;
}

}  // namespace

TEST_CASE("stats store: exposures, conversions and moments per arm; retried batches count once", "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db");
  REQUIRE(store.ok());
  auto first = (*store)->Ship(Batch("r1/run-a", 1,
                                    {Row("a", "$exposure", "u1", kMon, 1), Row("a", "$exposure", "u2", kMon, 1),
                                     Row("b", "$exposure", "u3", kMon, 1), Row("a", "purchase", "u1", kMon, 2, 30, 500),
                                     Row("b", "purchase", "u3", kMon, 1, 12.5, 156.25)}));
  REQUIRE(first.ok());
  CHECK(first->accepted == 5);
  CHECK_FALSE(first->duplicate);
  // The same batch again (a retry after a lost answer): nothing added.
  auto again = (*store)->Ship(Batch("r1/run-a", 1, {Row("a", "purchase", "u1", kMon, 3, 1, 1)}));
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->accepted == 0);
  // Requests per arm and hour (user "*"): count = requests, sum = 5xx.
  REQUIRE((*store)->Ship(Batch("r1/run-a", 3, {Row("a", "$requests", "*", kMon, 40, 2, 2),
                                              Row("a", "$requests", "*", kMon + kHour, 10, 1, 1)})).ok());
  // A later batch of the same user and hour adds up.
  REQUIRE((*store)->Ship(Batch("r1/run-a", 2, {Row("a", "purchase", "u1", kMon, 1, 10, 100)})).ok());
  // Another router's batch 1 is its own; the same user-hour exposure from two routers is one.
  REQUIRE((*store)->Ship(Batch("r2/run-b", 1, {Row("a", "$exposure", "u1", kMon + kHour, 1),
                                              Row("a", "$exposure", "u1", kMon, 1)})).ok());

  auto report = (*store)->Query(Query("purchase"), kMon + kDay);
  REQUIRE(report.ok());
  auto rows = ByArmBucket(*report);
  REQUIRE(rows.size() == 2);
  const auto& a = rows[{"a", 0}];
  CHECK(a.users_exposed() == 2);   // u1 in two hours is one user
  CHECK(a.exposures() == 3);       // user-hours: u1 at kMon and kMon+1h, u2 at kMon
  CHECK(a.users_with_event() == 1);
  CHECK(a.event_count() == 3);
  CHECK(a.sum() == Approx(40));
  CHECK(a.sum_squares() == Approx(600));
  CHECK(a.requests() == 50);
  CHECK(a.errors_5xx() == 3);
  CHECK(rows[{"b", 0}].requests() == 0);
  const auto& b = rows[{"b", 0}];
  CHECK(b.users_exposed() == 1);
  CHECK(b.users_with_event() == 1);
  CHECK(b.sum() == Approx(12.5));

  // Exposures only.
  auto exposures = (*store)->Query(Query(""), kMon + kDay);
  REQUIRE(exposures.ok());
  CHECK(ByArmBucket(*exposures)[{"a", 0}].event_count() == 0);
  CHECK(ByArmBucket(*exposures)[{"a", 0}].exposures() == 3);
}

TEST_CASE("stats store: buckets by hour, day, week (Monday) and month, UTC", "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db");
  REQUIRE(store.ok());
  const int64_t sun = kMon - kDay;                   // Sunday 2026-11-22: the week before
  const int64_t dec1 = kMon + 8 * kDay;              // Tuesday 2026-12-01: next month
  REQUIRE((*store)->Ship(Batch("r", 1,
                               {Row("a", "$exposure", "u1", sun + 23 * kHour, 1),
                                Row("a", "$exposure", "u2", kMon, 1), Row("a", "$exposure", "u3", kMon + 5 * kHour, 1),
                                Row("a", "$exposure", "u4", dec1, 1)}))
              .ok());
  auto count = [&](const std::string& by) {
    auto r = (*store)->Query(Query("", by), dec1 + kDay);
    REQUIRE(r.ok());
    std::map<int64_t, uint64_t> out;
    for (const auto& row : r->rows()) out[row.bucket_unix_s()] = row.users_exposed();
    return out;
  };
  CHECK(count("hour") == std::map<int64_t, uint64_t>{
                             {sun + 23 * kHour, 1}, {kMon, 1}, {kMon + 5 * kHour, 1}, {dec1, 1}});
  CHECK(count("day") == std::map<int64_t, uint64_t>{{sun, 1}, {kMon, 2}, {dec1, 1}});
  CHECK(count("week") == std::map<int64_t, uint64_t>{{kMon - 7 * kDay, 1}, {kMon, 2}, {kMon + 7 * kDay, 1}});
  const int64_t nov1 = 1793491200;  // 2026-11-01T00:00:00Z
  CHECK(count("month") == std::map<int64_t, uint64_t>{{nov1, 3}, {dec1, 1}});

  // A range: hours starting in [from, to).
  v1::StatsQuery q = Query("");
  q.set_from_unix_s(kMon);
  q.set_to_unix_s(kMon + kDay);
  auto ranged = (*store)->Query(q, 0);
  REQUIRE(ranged.ok());
  REQUIRE(ranged->rows_size() == 1);
  CHECK(ranged->rows(0).users_exposed() == 2);

  q.set_by("fortnight");
  auto bad = (*store)->Query(q, 0);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("by:") != std::string::npos);
}

TEST_CASE("stats store: bad rows are refused whole, with the row named; data survive a reopen", "[hub][stats]") {
  TempDir dir;
  const std::string path = dir.path() + "/stats.db";
  {
    auto store = StatsStore::Open(path);
    REQUIRE(store.ok());
    REQUIRE((*store)->Ship(Batch("r", 1, {Row("a", "$exposure", "u1", kMon, 1)})).ok());
    auto not_hour = (*store)->Ship(Batch("r", 2, {Row("a", "$exposure", "u2", kMon, 1), Row("a", "x", "u2", kMon + 7, 1)}));
    REQUIRE_FALSE(not_hour.ok());
    CHECK(not_hour.status().message().find("rows[1].hour_unix_s") != std::string::npos);
    auto nan = (*store)->Ship(
        Batch("r", 3, {Row("a", "x", "u2", kMon, 1, std::numeric_limits<double>::quiet_NaN())}));
    REQUIRE_FALSE(nan.ok());
    auto no_user = (*store)->Ship(Batch("r", 4, {Row("a", "x", "", kMon, 1)}));
    REQUIRE_FALSE(no_user.ok());
    CHECK(no_user.status().message().find("rows[0].user") != std::string::npos);
    REQUIRE_FALSE((*store)->Ship(Batch("", 5, {})).ok());
  }
  auto reopened = StatsStore::Open(path);
  REQUIRE(reopened.ok());
  auto r = (*reopened)->Query(Query(""), kMon + kDay);
  REQUIRE(r.ok());
  REQUIRE(r->rows_size() == 1);
  CHECK(r->rows(0).users_exposed() == 1);  // u2 of the refused batch never landed
  // Batch 2 was refused, so it may be sent again (fixed) and counts.
  REQUIRE((*reopened)->Ship(Batch("r", 2, {Row("a", "$exposure", "u2", kMon, 1)})).ok());
  auto r2 = (*reopened)->Query(Query(""), kMon + kDay);
  REQUIRE(r2.ok());
  CHECK(r2->rows(0).users_exposed() == 2);
}
