#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>

#include "hub/stats/stats_store.h"
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
  q.set_user_cap_percentile(100);  // raw sums here; the per-user cap: hub_user_cap_test.cc
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

namespace {

v1::TrafficRow Traffic(const std::string& arm, int64_t minute, uint64_t s2xx, uint64_t s3xx, uint64_t s4xx,
                       uint64_t s5xx, std::vector<uint64_t> latency) {
  v1::TrafficRow t;
  t.set_app("webapp");
  t.set_arm(arm);
  t.set_minute_unix_s(minute);
  t.set_status_2xx(s2xx);
  t.set_status_3xx(s3xx);
  t.set_status_4xx(s4xx);
  t.set_status_5xx(s5xx);
  t.set_requests(s2xx + s3xx + s4xx + s5xx);
  for (uint64_t c : latency) t.add_latency_counts(c);
  return t;
}

v1::ShipStatsRequest TrafficBatch(const std::string& router, uint64_t id, std::vector<v1::TrafficRow> rows) {
  v1::ShipStatsRequest req;
  req.set_router(router);
  req.set_batch_id(id);
  for (auto& t : rows) *req.add_traffic() = std::move(t);
  return req;
}

}  // namespace

TEST_CASE("stats store: traffic per minute adds up across routers; p50/p99 from the merged histogram",
          "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db");
  REQUIRE(store.ok());
  // Two routers in the same minute: 10 requests at <= 250 us (one 5xx), 10 at 1-2.5 ms.
  auto first = (*store)->Ship(TrafficBatch("r1", 1, {Traffic("a", kMon, 9, 0, 0, 1, {10})}));
  REQUIRE(first.ok());
  CHECK(first->accepted == 1);
  REQUIRE((*store)->Ship(TrafficBatch("r2", 1, {Traffic("a", kMon, 10, 0, 0, 0, {0, 0, 0, 10})})).ok());
  // A retry of r2's batch counts once.
  auto again = (*store)->Ship(TrafficBatch("r2", 1, {Traffic("a", kMon, 10, 0, 0, 0, {0, 0, 0, 10})}));
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  // An hour and a half later: 5 4xx at 250-500 us. Arm b has traffic but no exposures.
  REQUIRE((*store)->Ship(TrafficBatch("r1", 2, {Traffic("a", kMon + 90 * 60, 0, 0, 5, 0, {0, 5}),
                                                Traffic("b", kMon, 0, 4, 0, 0, {})}))
              .ok());
  // An older router's hourly request counts still count (no classes, no latencies).
  REQUIRE((*store)->Ship(Batch("r0", 1, {Row("a", "$requests", "*", kMon, 40, 2, 2)})).ok());

  auto report = (*store)->Query(Query(""), kMon + kDay);
  REQUIRE(report.ok());
  auto rows = ByArmBucket(*report);
  REQUIRE(rows.size() == 2);
  const auto& a = rows[{"a", 0}];
  CHECK(a.requests() == 65);
  CHECK(a.errors_5xx() == 3);
  CHECK(a.status_2xx() == 19);
  CHECK(a.status_4xx() == 5);
  REQUIRE(a.latency_counts_size() == 16);
  CHECK(a.latency_bounds_us_size() == 15);
  CHECK(a.latency_counts(0) == 10);
  CHECK(a.latency_counts(1) == 5);
  CHECK(a.latency_counts(3) == 10);
  // 25 latencies: rank 12.5 lies in 250..500 (2.5 of 5), rank 24.75 in 1000..2500 (9.75 of 10).
  CHECK(a.latency_p50_us() == Approx(250 + 250 * 2.5 / 5));
  CHECK(a.latency_p99_us() == Approx(1000 + 1500 * 9.75 / 10));
  const auto& b = rows[{"b", 0}];
  CHECK(b.requests() == 4);
  CHECK(b.status_3xx() == 4);
  CHECK(b.users_exposed() == 0);
  CHECK(b.latency_counts_size() == 0);
  CHECK(b.latency_p99_us() == 0);

  // By hour: minutes fall into their hour.
  auto hourly = (*store)->Query(Query("", "hour"), kMon + kDay);
  REQUIRE(hourly.ok());
  auto by_hour = ByArmBucket(*hourly);
  CHECK(by_hour[{"a", kMon}].requests() == 60);
  CHECK(by_hour[{"a", kMon + kHour}].requests() == 5);
  CHECK(by_hour[{"a", kMon + kHour}].latency_p99_us() == Approx(250 + 250 * 4.95 / 5));

  // From a minute on: the minute (and the hour of user rows) starting before it is out.
  v1::StatsQuery q = Query("");
  q.set_from_unix_s(kMon + 60);
  auto later = (*store)->Query(q, kMon + kDay);
  REQUIRE(later.ok());
  REQUIRE(later->rows_size() == 1);
  CHECK(later->rows(0).arm() == "a");
  CHECK(later->rows(0).requests() == 5);
}

TEST_CASE("stats store: bad traffic rows are refused whole, naming the row", "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db");
  REQUIRE(store.ok());
  auto not_minute = (*store)->Ship(TrafficBatch("r", 1, {Traffic("a", kMon, 1, 0, 0, 0, {}),
                                                         Traffic("a", kMon + 30, 1, 0, 0, 0, {})}));
  REQUIRE_FALSE(not_minute.ok());
  CHECK(not_minute.status().message() == "traffic[1].minute_unix_s: must start a UTC minute");
  v1::TrafficRow wrong_sum = Traffic("a", kMon, 1, 0, 0, 0, {});
  wrong_sum.set_requests(3);
  auto sum = (*store)->Ship(TrafficBatch("r", 2, {wrong_sum}));
  REQUIRE_FALSE(sum.ok());
  CHECK(sum.status().message().find("traffic[0].requests") != std::string::npos);
  auto buckets = (*store)->Ship(TrafficBatch("r", 3, {Traffic("a", kMon, 1, 0, 0, 0, std::vector<uint64_t>(17, 0))}));
  REQUIRE_FALSE(buckets.ok());
  CHECK(buckets.status().message().find("traffic[0].latency_counts") != std::string::npos);
  auto no_arm = (*store)->Ship(TrafficBatch("r", 4, {Traffic("", kMon, 1, 0, 0, 0, {})}));
  REQUIRE_FALSE(no_arm.ok());
  auto r = (*store)->Query(Query(""), kMon + kDay);
  REQUIRE(r.ok());
  CHECK(r->rows_size() == 0);
}

TEST_CASE("stats store: batch ids are remembered far below a router's newest", "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db");
  REQUIRE(store.ok());
  // Routers number batches segment << 10 | part: a thousand segments later,
  // a segment sent again (a restart replaying its journal) is still known.
  REQUIRE((*store)->Ship(TrafficBatch("r", 1 << 10, {Traffic("a", kMon, 1, 0, 0, 0, {})})).ok());
  REQUIRE((*store)->Ship(TrafficBatch("r", 1000 << 10, {Traffic("a", kMon, 1, 0, 0, 0, {})})).ok());
  auto replayed = (*store)->Ship(TrafficBatch("r", 1 << 10, {Traffic("a", kMon, 1, 0, 0, 0, {})}));
  REQUIRE(replayed.ok());
  CHECK(replayed->duplicate);
  // 2^27 beyond, the oldest is forgotten.
  REQUIRE((*store)->Ship(TrafficBatch("r", (1 << 10) + (int64_t{1} << 27) + 1, {})).ok());
  auto forgotten = (*store)->Ship(TrafficBatch("r", 1 << 10, {}));
  REQUIRE(forgotten.ok());
  CHECK_FALSE(forgotten->duplicate);
}

namespace {

v1::UserEventRow InFlight(v1::UserEventRow r, const std::string& flight) {
  r.set_flight(flight);
  return r;
}

}  // namespace

TEST_CASE("stats store: posted events count for the arm of their user's exposure, whoever posted them",
          "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db");
  REQUIRE(store.ok());
  const std::string kBy = "$by-exposure";  // router/events.h kByExposureArm
  // u1 on a, u2 on b (outside flights); u3 enrolled in flight F on arm t;
  // u4 moved from a to b at kMon+2h (weights changed); u5 never served.
  REQUIRE((*store)->Ship(Batch("r1", 1,
                               {Row("a", "$exposure", "u1", kMon, 1), Row("b", "$exposure", "u2", kMon, 1),
                                InFlight(Row("t", "$exposure", "u3", kMon, 1), "F"),
                                Row("a", "$exposure", "u4", kMon, 1), Row("b", "$exposure", "u4", kMon + 2 * kHour, 1)}))
              .ok());
  // Events as routers ship them now: no arm of their own. Another router
  // (r2) ships them, as when a server posts for the user elsewhere.
  REQUIRE((*store)->Ship(Batch("r2", 1,
                               {Row(kBy, "buy", "u1", kMon, 1, 10, 100), Row(kBy, "buy", "u2", kMon + kHour, 2, 40, 800),
                                Row(kBy, "buy", "u3", kMon, 1, 7, 49), Row(kBy, "buy", "u4", kMon + kHour, 1, 1, 1),
                                Row(kBy, "buy", "u4", kMon + 3 * kHour, 1, 2, 4),
                                Row(kBy, "buy", "u5", kMon, 3, 3, 3)}))
              .ok());
  // A row of an older router, with its arm: still counted for that arm.
  REQUIRE((*store)->Ship(Batch("r3", 1, {Row("a", "buy", "u9", kMon, 1, 5, 25)})).ok());

  auto report = (*store)->Query(Query("buy"), kMon + kDay);
  REQUIRE(report.ok());
  auto rows = ByArmBucket(*report);
  CHECK(rows.count({kBy, 0}) == 0);  // never an arm of its own
  const auto& a = rows[{"a", 0}];
  const auto& b = rows[{"b", 0}];
  CHECK(a.users_with_event() == 3);  // u1, u4 (before the move), u9 (old row)
  CHECK(a.event_count() == 3);
  CHECK(a.sum() == Approx(10 + 1 + 5));
  CHECK(b.users_with_event() == 2);  // u2, u4 (after the move)
  CHECK(b.event_count() == 3);
  CHECK(b.sum() == Approx(40 + 2));
  CHECK(b.sum_squares() == Approx(800 + 4));
  // u3 is in flight F, u5 was never served: neither is given to an arm here.
  CHECK(report->unattributed_users() == 2);
  CHECK(report->unattributed_events() == 4);

  // The flight's report: u3's event counts for t; everyone else is unattributed there.
  auto q = Query("buy");
  q.set_flight("F");
  auto flight = (*store)->Query(q, kMon + kDay);
  REQUIRE(flight.ok());
  auto frows = ByArmBucket(*flight);
  CHECK(frows[{"t", 0}].users_with_event() == 1);
  CHECK(frows[{"t", 0}].sum() == Approx(7));
  CHECK(flight->unattributed_users() == 4);  // u1, u2, u4, u5

  // An event before the user's first exposure is not theirs to count.
  REQUIRE((*store)->Ship(Batch("r2", 2, {Row(kBy, "buy", "u2", kMon - kHour, 1, 100, 100)})).ok());
  auto early = (*store)->Query(Query("buy"), kMon + kDay);
  REQUIRE(early.ok());
  CHECK(ByArmBucket(*early)[{"b", 0}].sum() == Approx(42));
  CHECK(early->unattributed_events() == 5);

  // By hour: each event in its own bucket, attributed as above.
  auto hourly = (*store)->Query(Query("buy", "hour"), kMon + kDay);
  REQUIRE(hourly.ok());
  auto hrows = ByArmBucket(*hourly);
  CHECK(hrows[{"b", kMon + 3 * kHour}].sum() == Approx(2));
  CHECK(hrows[{"a", kMon + kHour}].sum() == Approx(1));
}
