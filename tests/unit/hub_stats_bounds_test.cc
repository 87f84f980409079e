// The bounds of the hub's experiment data: shipped batches checked like any
// input (hub/stats/stats_check.h), and a store that forged ids and names cannot
// grow without limit (event names per app, max bytes, retention).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/sqlite.h"
#include "hub/stats/stats_check.h"
#include "hub/stats/stats_store.h"
#include "test_util.h"

namespace skyport::hub {
namespace {

using skyport::testing::TempDir;

constexpr int64_t kNow = 1795395600;  // 2026-11-23T01:00:00Z
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

v1::UserEventRow Row(const std::string& event, const std::string& user, int64_t hour = kNow, uint64_t count = 1,
                     double sum = 0, double sum_sq = 0) {
  v1::UserEventRow r;
  r.set_app("webapp");
  r.set_flight("f1.18c3a");
  r.set_arm("aaaa1111");
  r.set_event(event);
  r.set_user(user);
  r.set_hour_unix_s(hour);
  r.set_count(count);
  r.set_sum(sum);
  r.set_sum_squares(sum_sq);
  return r;
}

v1::ShipStatsRequest Batch(uint64_t id, std::vector<v1::UserEventRow> rows) {
  v1::ShipStatsRequest req;
  req.set_router("r1/0123456789ab");
  req.set_batch_id(id);
  for (auto& r : rows) *req.add_rows() = std::move(r);
  return req;
}

uint64_t Count(StatsStore& store, const std::string& event) {
  v1::StatsQuery q;
  q.set_app("webapp");
  q.set_flight("f1.18c3a");
  q.set_event(event);
  auto r = store.Query(q, kNow + kHour);
  REQUIRE(r.ok());
  uint64_t n = 0;
  for (const auto& row : r->rows()) n += event == "$exposure" ? row.exposures() : row.event_count();
  return n;
}

TEST_CASE("CheckShipBatch: a router's ordinary batch passes", "[hub][stats]") {
  auto req = Batch(1, {Row("$exposure", "0123456789abcdef0123456789abcdef"), Row("purchase", "user@example.com", kNow, 3, 30, 300),
                       Row("buy", "u1", kNow - 31 * kDay), Row("$requests", "*", kNow, 10, 1)});
  v1::TrafficRow* t = req.add_traffic();
  t->set_app("webapp");
  t->set_arm("aaaa1111");
  t->set_minute_unix_s(kNow + 60);
  t->set_requests(5);
  t->set_status_2xx(5);
  t->add_latency_counts(5);
  t->set_latency_sum_us(1000);
  CHECK(CheckShipBatch(req, {}, kNow + 120).ok());
}

TEST_CASE("CheckShipBatch: posted events under the arm $by-exposure pass; no other $ arm", "[hub][stats]") {
  // What routers ship for POST /_skyport/events (router/events.h kByExposureArm).
  v1::UserEventRow ev = Row("purchase", "0123456789abcdef0123456789abcdef", kNow, 1, 9.5, 90.25);
  ev.set_flight("");
  ev.set_arm("$by-exposure");
  CHECK(CheckShipBatch(Batch(1, {ev}), {}, kNow).ok());
  // Only for posted events: not an exposure's arm, not a traffic arm, no other '$' name.
  v1::UserEventRow exposure = Row("$exposure", "u1");
  exposure.set_arm("$by-exposure");
  CHECK(CheckShipBatch(Batch(1, {exposure}), {}, kNow).message().rfind("rows[0].arm", 0) == 0);
  v1::UserEventRow other = ev;
  other.set_arm("$by-exposurex");
  CHECK(CheckShipBatch(Batch(1, {other}), {}, kNow).message().rfind("rows[0].arm", 0) == 0);
  auto req = Batch(1, {});
  v1::TrafficRow* t = req.add_traffic();
  t->set_app("webapp");
  t->set_arm("$by-exposure");
  t->set_minute_unix_s(kNow);
  CHECK(CheckShipBatch(req, {}, kNow).message().rfind("traffic[0].arm", 0) == 0);
}

TEST_CASE("CheckShipBatch: bad rows are refused, naming the row and the problem, echo capped", "[hub][stats]") {
  struct Case {
    v1::UserEventRow row;
    std::string words;
  };
  auto with = [](auto f) {
    v1::UserEventRow r = Row("buy", "u1");
    f(r);
    return r;
  };
  const std::vector<Case> cases = {
      {with([](auto& r) { r.set_app("Web App"); }), "rows[0].app"},
      {with([](auto& r) { r.set_app(std::string(5000, 'a')); }), "rows[0].app"},
      {with([](auto& r) { r.set_flight("f/../x"); }), "rows[0].flight"},
      {with([](auto& r) { r.set_arm(""); }), "rows[0].arm"},
      {with([](auto& r) { r.set_arm(std::string(65, 'a')); }), "rows[0].arm"},
      {with([](auto& r) { r.set_event("$admin"); }), "rows[0].event"},
      {with([](auto& r) { r.set_event(std::string(65, 'e')); }), "rows[0].event"},
      {with([](auto& r) { r.set_user(""); }), "rows[0].user"},
      {with([](auto& r) { r.set_user(std::string(1 << 20, 'u')); }), "rows[0].user"},
      {with([](auto& r) { r.set_user("a b\n"); }), "rows[0].user"},
      {with([](auto& r) { r.set_hour_unix_s(kNow + 1); }), "rows[0].hour_unix_s: must start a UTC hour"},
      {with([](auto& r) { r.set_hour_unix_s(kNow - 41 * kDay); }), "rows[0].hour_unix_s"},
      {with([](auto& r) { r.set_hour_unix_s(kNow + 3 * kHour); }), "rows[0].hour_unix_s"},
      {with([](auto& r) { r.set_hour_unix_s(-kHour); }), "rows[0].hour_unix_s"},
      {with([](auto& r) { r.set_count(0); }), "rows[0].count"},
      {with([](auto& r) { r.set_count(uint64_t{1} << 62); }), "rows[0].count"},
      {with([](auto& r) { r.set_sum(1e300); }), "rows[0].sum"},
      {with([](auto& r) { r.set_sum(std::nan("")); }), "rows[0].sum"},
      {with([](auto& r) { r.set_sum_squares(-1); }), "rows[0].sum_squares"},
      {with([](auto& r) { r.set_event("$exposure"), r.set_count(7); }), "rows[0].count"},
  };
  for (const auto& c : cases) {
    Status s = CheckShipBatch(Batch(1, {c.row}), {}, kNow);
    INFO(c.words);
    REQUIRE(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find(c.words) != std::string::npos);
    CHECK(s.message().size() < 300);  // the echo of a 1 MiB user is capped
  }
  // The second row is named.
  Status s = CheckShipBatch(Batch(1, {Row("buy", "u1"), Row("buy", "bad user")}), {}, kNow);
  CHECK(s.message().rfind("rows[1].user", 0) == 0);
  // Rows per batch.
  std::vector<v1::UserEventRow> many(11, Row("buy", "u1"));
  ShipLimits small;
  small.max_rows = 10;
  s = CheckShipBatch(Batch(1, many), small, kNow);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message() == "rows: 11 rows in one batch, at most 10");
  // The router id.
  auto req = Batch(1, {});
  req.set_router(std::string(200, 'r'));
  CHECK(CheckShipBatch(req, {}, kNow).message().rfind("router:", 0) == 0);
  // Traffic: implausible latency counts.
  req = Batch(1, {});
  v1::TrafficRow* t = req.add_traffic();
  t->set_app("webapp");
  t->set_arm("aaaa1111");
  t->set_minute_unix_s(kNow);
  t->set_requests(1);
  t->set_status_2xx(1);
  t->add_latency_counts(1);
  t->add_latency_counts(1'000'000);
  CHECK(CheckShipBatch(req, {}, kNow).message().rfind("traffic[0].latency_counts", 0) == 0);
  // Traffic: requests other than the classes summed; more buckets than there are.
  t->clear_latency_counts();
  t->set_requests(3);
  CHECK(CheckShipBatch(req, {}, kNow).message() == "traffic[0].requests: must equal the status classes summed");
  t->set_requests(1);
  for (int i = 0; i < 17; ++i) t->add_latency_counts(0);
  CHECK(CheckShipBatch(req, {}, kNow).message() == "traffic[0].latency_counts: at most 16 buckets");
  t->clear_latency_counts();
  CHECK(CheckShipBatch(req, {}, kNow).ok());
}

TEST_CASE("CheckShipRows: the same checks without the time window or the row count (the store's)", "[hub][stats]") {
  // An hour of long ago passes (the store keeps what the service let in);
  // the rest is checked as CheckShipBatch does.
  auto old = Batch(1, {Row("purchase", "u1", 3600)});
  CHECK_FALSE(CheckShipBatch(old, {}, kNow).ok());
  CHECK(CheckShipRows(old).ok());
  std::vector<v1::UserEventRow> many(60'000, Row("purchase", "u1"));
  CHECK(CheckShipRows(Batch(1, many)).ok());
  CHECK(CheckShipRows(Batch(1, {Row("purchase", "bad user")})).message().rfind("rows[0].user", 0) == 0);
  CHECK(CheckShipRows(Batch(1, {Row("purchase", "u1", kNow + 7)})).message() ==
        "rows[0].hour_unix_s: must start a UTC hour");
  CHECK(CheckShipRows(Batch(1, {Row("$exposure", "u1", kNow, 2)})).message().rfind("rows[0].count", 0) == 0);
}

TEST_CASE("sqlite stores: the WAL is cut back to its limit after a large transaction", "[hub][stats]") {
  // stats.db (and registry.db, flights.db) open through OpenSqlite: a large
  // transaction must not leave its -wal file at the high-water mark.
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  auto db = OpenSqlite(path, /*fsync=*/false, "CREATE TABLE IF NOT EXISTS t(b BLOB)", "t", "t");
  REQUIRE(db.ok());
  REQUIRE(ExecSql(*db, "INSERT INTO t VALUES(randomblob(3 * 8 * 1024 * 1024))", "big").ok());
  CHECK(std::filesystem::file_size(path + "-wal") > static_cast<uintmax_t>(2 * kSqliteWalLimitBytes));
  for (int i = 0; i < 3; ++i) REQUIRE(ExecSql(*db, "INSERT INTO t VALUES(1)", "small").ok());
  CHECK(std::filesystem::file_size(path + "-wal") <= static_cast<uintmax_t>(kSqliteWalLimitBytes));
  sqlite3_close(*db);
}

TEST_CASE("stats store: event names per app are capped; rows of further names are dropped", "[hub][stats]") {
  TempDir dir;
  StatsStoreLimits limits;
  limits.max_event_names_per_app = 3;
  auto store = StatsStore::Open(dir.path() + "/stats.db", false, limits);
  REQUIRE(store.ok());
  std::vector<v1::UserEventRow> rows = {Row("$exposure", "u1"), Row("purchase", "u1")};
  for (int i = 0; i < 50; ++i) rows.push_back(Row(fmt::format("forged-{}", i), "u1"));
  auto out = (*store)->Ship(Batch(1, rows));
  REQUIRE(out.ok());
  CHECK(out->accepted == 4);  // the exposure, purchase and two forged names
  CHECK(out->dropped_event_names == 48);
  // Known names still count; the cap holds across a reopen.
  store->reset();
  store = StatsStore::Open(dir.path() + "/stats.db", false, limits);
  REQUIRE(store.ok());
  out = (*store)->Ship(Batch(2, {Row("purchase", "u2"), Row("another", "u2"), Row("$exposure", "u2")}));
  REQUIRE(out.ok());
  CHECK(out->accepted == 2);
  CHECK(out->dropped_event_names == 1);
  CHECK(Count(**store, "purchase") == 2);
  CHECK(Count(**store, "$exposure") == 2);
}

TEST_CASE("stats store: at max_bytes new keys are dropped, existing ones still add up", "[hub][stats]") {
  TempDir dir;
  const std::string path = dir.path() + "/stats.db";
  uint64_t live = 0;
  {
    auto store = StatsStore::Open(path, false);
    REQUIRE(store.ok());
    REQUIRE((*store)->Ship(Batch(1, {Row("$exposure", "real"), Row("purchase", "real", kNow, 1, 10, 100)})).ok());
    live = (*store)->LiveBytes();
    CHECK(live > 0);
  }
  StatsStoreLimits limits;
  limits.max_bytes = live;
  auto store = StatsStore::Open(path, false, limits);
  REQUIRE(store.ok());
  std::vector<v1::UserEventRow> flood = {Row("purchase", "real", kNow, 2, 20, 200)};
  for (int i = 0; i < 2000; ++i) flood.push_back(Row("purchase", fmt::format("forged-{}", i)));
  auto out = (*store)->Ship(Batch(2, flood));
  REQUIRE(out.ok());
  CHECK(out->accepted == 1);
  CHECK(out->dropped_full == 2000);
  CHECK(Count(**store, "purchase") == 3);
  CHECK((*store)->LiveBytes() <= live);
}

// Users with an exposure row at the hub.
std::vector<std::string> Exposed(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::vector<std::string> out;
  {
    Stmt q(db, "SELECT user FROM user_events WHERE event = '$exposure' ORDER BY user");
    while (q.Step() == SQLITE_ROW) out.push_back(q.Text(0));
  }
  sqlite3_close(db);
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST_CASE("stats store: at max_bytes a new key takes the place of the oldest exposure of a user with no events",
          "[hub][stats]") {
  TempDir dir;
  const std::string path = dir.path() + "/stats.db";
  uint64_t live = 0;
  {
    auto store = StatsStore::Open(path, false);
    REQUIRE(store.ok());
    // A real user (exposure and purchase) first, then a flood of new users that never post.
    REQUIRE((*store)->Ship(Batch(1, {Row("$exposure", "real"), Row("purchase", "real", kNow, 1, 10, 100)})).ok());
    std::vector<v1::UserEventRow> flood;
    for (int i = 0; i < 300; ++i) flood.push_back(Row("$exposure", fmt::format("flood-{:03}", i)));
    REQUIRE((*store)->Ship(Batch(2, flood)).ok());
    live = (*store)->LiveBytes();
  }
  StatsStoreLimits limits;
  limits.max_bytes = live;
  auto store = StatsStore::Open(path, false, limits);  // reopened: the arrival order is kept
  REQUIRE(store.ok());
  // A new real user: their exposure, then their purchase, each taking a flood exposure's place.
  auto out = (*store)->Ship(Batch(3, {Row("$exposure", "late")}));
  REQUIRE(out.ok());
  CHECK(out->accepted == 1);
  CHECK(out->dropped_full == 0);
  CHECK(out->evicted_exposures >= 1);
  out = (*store)->Ship(Batch(4, {Row("purchase", "late", kNow, 1, 5, 25)}));
  REQUIRE(out.ok());
  CHECK(out->accepted == 1);
  CHECK(Count(**store, "purchase") == 2);
  auto exposed = Exposed(path);
  CHECK(Has(exposed, "real"));  // the first to arrive, but its user has events: kept
  CHECK(Has(exposed, "late"));
  CHECK_FALSE(Has(exposed, "flood-000"));  // the oldest without events went first
  CHECK(Has(exposed, "flood-299"));
  // More new users than there is room: the flood's exposures give theirs (the store may also
  // find room freed by the evictions), then the rest are dropped, counted.
  uint64_t dropped = 0;
  for (uint64_t id = 5; id < 40 && dropped == 0; ++id) {
    std::vector<v1::UserEventRow> more;
    for (int i = 0; i < 100; ++i) more.push_back(Row("purchase", fmt::format("new-{}-{:03}", id, i)));
    out = (*store)->Ship(Batch(id, more));
    REQUIRE(out.ok());
    CHECK(out->accepted + out->dropped_full == 100);
    dropped += out->dropped_full;
  }
  CHECK(dropped > 0);
  exposed = Exposed(path);
  CHECK(exposed == std::vector<std::string>{"late", "real"});  // every flood exposure gave its place first
  CHECK((*store)->LiveBytes() <= live + live / 10);
}

TEST_CASE("stats store: retention deletes old rows in chunks and frees their room", "[hub][stats]") {
  TempDir dir;
  auto store = StatsStore::Open(dir.path() + "/stats.db", false);
  REQUIRE(store.ok());
  std::vector<v1::UserEventRow> rows;
  for (int i = 0; i < 12'000; ++i) rows.push_back(Row("buy", fmt::format("old-{}", i), kNow - 10 * kDay));
  rows.push_back(Row("buy", "recent", kNow - kDay));
  REQUIRE((*store)->Ship(Batch(1, rows)).ok());
  v1::ShipStatsRequest traffic = Batch(2, {});
  for (int64_t m : {kNow - 5 * kDay, kNow - 60}) {
    v1::TrafficRow* t = traffic.add_traffic();
    t->set_app("webapp");
    t->set_flight("f1.18c3a");
    t->set_arm("aaaa1111");
    t->set_minute_unix_s(m);
    t->set_requests(1);
    t->set_status_2xx(1);
  }
  REQUIRE((*store)->Ship(traffic).ok());
  const uint64_t before = (*store)->LiveBytes();
  auto pruned = (*store)->Prune(kNow, 7 * kDay, 2 * kDay);
  REQUIRE(pruned.ok());
  CHECK(pruned->user_rows == 12'000);
  CHECK(pruned->traffic_rows == 1);
  CHECK(Count(**store, "buy") == 1);
  CHECK((*store)->LiveBytes() < before);
  // Nothing older left: a second run deletes nothing; 0 keeps everything.
  pruned = (*store)->Prune(kNow, 7 * kDay, 2 * kDay);
  REQUIRE(pruned.ok());
  CHECK(pruned->user_rows + pruned->traffic_rows == 0);
  pruned = (*store)->Prune(kNow + 1000 * kDay, 0, 0);
  REQUIRE(pruned.ok());
  CHECK(Count(**store, "buy") == 1);
}

TEST_CASE("stats store: router ids are capped; ids not seen for the retention are forgotten", "[hub][stats]") {
  // A token holder inventing a router id per batch must not grow the dedup table for good.
  TempDir dir;
  StatsStoreLimits limits;
  limits.max_routers = 3;
  auto store = StatsStore::Open(dir.path() + "/stats.db", false, limits);
  REQUIRE(store.ok());
  auto from = [](const std::string& router, uint64_t id) {
    v1::ShipStatsRequest req = Batch(id, {Row("buy", "u1")});
    req.set_router(router);
    return req;
  };
  REQUIRE((*store)->Ship(from("r-old", 1), kNow - 40 * kDay).ok());
  REQUIRE((*store)->Ship(from("r-a", 1), kNow).ok());
  REQUIRE((*store)->Ship(from("r-b", 1), kNow).ok());
  auto refused = (*store)->Ship(from("invented-1", 1), kNow);
  REQUIRE(refused.status().code() == Code::kResourceExhausted);
  CHECK(refused.status().message().find("--stats-max-routers") != std::string::npos);
  CHECK(Count(**store, "buy") == 3);  // nothing of the refused batch stored
  // Known routers still ship (and still deduplicate).
  REQUIRE((*store)->Ship(from("r-a", 2), kNow).ok());
  CHECK((*store)->Ship(from("r-a", 2), kNow)->duplicate);
  // Retention forgets the router not seen for 30 days, with its batch ids: room for a new one.
  auto pruned = (*store)->Prune(kNow, 0, 0, 30 * kDay);
  REQUIRE(pruned.ok());
  CHECK(pruned->routers == 1);
  REQUIRE((*store)->Ship(from("r-c", 1), kNow).ok());
  CHECK((*store)->Ship(from("r-d", 1), kNow).status().code() == Code::kResourceExhausted);
  pruned = (*store)->Prune(kNow, 0, 0, 30 * kDay);
  REQUIRE(pruned.ok());
  CHECK(pruned->routers == 0);
}

}  // namespace
}  // namespace skyport::hub
