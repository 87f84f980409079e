#include "hub/stats/stats_store.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "core/latency_histogram.h"
#include "core/sqlite.h"
#include "hub/stats/stats_check.h"
#include "hub/stats/user_cap.h"

namespace skyport::hub {
namespace {

constexpr char kExposure[] = "$exposure";
// The arm of posted events: counted for the arm of the user's exposure
// (UserEventRow in router.proto; router/events.h kByExposureArm).
constexpr char kByExposureArm[] = "$by-exposure";
// Rows of routers from before TrafficRow: per arm and hour, user "*":
// count = requests, sum = 5xx. Still counted in ArmBucket.requests/errors_5xx.
constexpr char kRequests[] = "$requests";

// A router's batch ids are remembered this far below the largest seen (see
// ShipStatsRequest in router.proto): 2^17 segments of 2^10 parts.
constexpr int64_t kBatchIdWindow = int64_t{1} << 27;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS user_events(
  app TEXT NOT NULL, flight TEXT NOT NULL, event TEXT NOT NULL, arm TEXT NOT NULL, user TEXT NOT NULL,
  hour INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, sum_sq REAL NOT NULL, seq INTEGER,
  PRIMARY KEY(app, flight, event, hour, arm, user)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS exposures_by_user ON user_events(app, flight, user, hour, arm)
  WHERE event = '$exposure';
CREATE TABLE IF NOT EXISTS batches(router TEXT NOT NULL, batch_id INTEGER NOT NULL,
  PRIMARY KEY(router, batch_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS routers(router TEXT PRIMARY KEY, last_seen INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_names(app TEXT NOT NULL, event TEXT NOT NULL, PRIMARY KEY(app, event)) WITHOUT ROWID;
)sql";

// After kSchema and the migration that adds user_events.seq (stores from
// before it): exposures in the order they arrived, while they may still be
// evicted at max_bytes (seq NULL once their user is known to have events),
// and each user's event rows, to tell those users.
const char* kEvictionSchema = R"sql(
CREATE INDEX IF NOT EXISTS exposures_by_seq ON user_events(seq) WHERE event = '$exposure' AND seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_user ON user_events(app, user) WHERE event != '$exposure';
)sql";

// Exposures examined per eviction query at max_bytes.
constexpr int kEvictChunk = 64;

// Rows deleted per transaction by Prune.
constexpr int kPruneChunk = 5000;

// Per arm and minute: requests, status classes, latency sum and histogram
// (l0..l15, the buckets of core/latency_histogram.h).
constexpr const char* kTrafficCounts[] = {"requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx", "latency_sum_us"};
constexpr size_t kTrafficCountCols = std::size(kTrafficCounts) + kLatencyBuckets;

std::string TrafficCol(size_t i) {
  return i < std::size(kTrafficCounts) ? std::string(kTrafficCounts[i])
                                       : fmt::format("l{}", i - std::size(kTrafficCounts));
}

std::string TrafficSchema() {
  std::string cols;
  for (size_t i = 0; i < kTrafficCountCols; ++i) cols += TrafficCol(i) + " INTEGER NOT NULL, ";
  return "CREATE TABLE IF NOT EXISTS traffic(app TEXT NOT NULL, flight TEXT NOT NULL, arm TEXT NOT NULL, "
         "minute INTEGER NOT NULL, " + cols + "PRIMARY KEY(app, flight, minute, arm)) WITHOUT ROWID;\n";
}

// Adds a row's counts to those stored (by key): the merge of TrafficRows.
std::string TrafficInsertSql() {
  std::string cols, params, updates;
  for (size_t i = 0; i < kTrafficCountCols; ++i) {
    const std::string c = TrafficCol(i);
    cols += ", " + c;
    params += fmt::format(", ?{}", i + 5);
    updates += fmt::format("{}{} = {} + excluded.{}", i ? ", " : "", c, c, c);
  }
  return fmt::format("INSERT INTO traffic(app, flight, arm, minute{}) VALUES(?1, ?2, ?3, ?4{}) "
                     "ON CONFLICT(app, flight, minute, arm) DO UPDATE SET {}",
                     cols, params, updates);
}

// SQL for the start of the bucket holding `col` (unix seconds, UTC, >= 0).
Result<std::string> BucketExpr(const std::string& by, const char* col) {
  if (by.empty()) return std::string("0");
  if (by == "hour") return fmt::format("({0} - {0} % 3600)", col);
  if (by == "day") return fmt::format("CAST(strftime('%s', {}, 'unixepoch', 'start of day') AS INTEGER)", col);
  if (by == "week")  // Monday 00:00: to the next Sunday (or today), then back 6 days
    return fmt::format(
        "CAST(strftime('%s', {}, 'unixepoch', 'start of day', 'weekday 0', '-6 days') AS INTEGER)", col);
  if (by == "month") return fmt::format("CAST(strftime('%s', {}, 'unixepoch', 'start of month') AS INTEGER)", col);
  return Status::InvalidArgument(fmt::format("by: \"{}\" is not one of hour, day, week, month", by));
}

}  // namespace

Result<std::unique_ptr<StatsStore>> StatsStore::Open(const std::string& path, bool fsync, StatsStoreLimits limits) {
  const std::string schema = std::string(kSchema) + TrafficSchema();
  auto db = OpenSqlite(path, fsync, schema.c_str(), "stats", "stats");
  if (!db.ok()) return db.status();
  // A store from before event_names: the names it holds are known (once; they may exceed the cap).
  {
    Stmt any_name(*db, "SELECT 1 FROM event_names LIMIT 1");
    if (any_name.ok() && any_name.Step() != SQLITE_ROW) {
      Status s = ExecSql(*db,
                         "INSERT OR IGNORE INTO event_names(app, event) SELECT DISTINCT app, event FROM user_events "
                         "WHERE event NOT IN ('$exposure', '$requests')",
                         "stats: event names");
      if (!s.ok()) {
        sqlite3_close(*db);
        return s;
      }
    }
  }
  // A store from before the routers table: its routers count as seen now (once).
  if (Status s = ExecSql(*db,
                         "INSERT OR IGNORE INTO routers(router, last_seen) "
                         "SELECT DISTINCT router, CAST(strftime('%s', 'now') AS INTEGER) FROM batches "
                         "WHERE NOT EXISTS (SELECT 1 FROM routers LIMIT 1)",
                         "stats: routers");
      !s.ok()) {
    sqlite3_close(*db);
    return s;
  }
  // A store from before exposure eviction: user_events gets its seq column (NULL: oldest first).
  {
    Stmt has_seq(*db, "SELECT seq FROM user_events LIMIT 0");
    Status s = has_seq.ok() ? Status::Ok()
                            : ExecSql(*db, "ALTER TABLE user_events ADD COLUMN seq INTEGER", "stats: migrate");
    if (s.ok()) s = ExecSql(*db, kEvictionSchema, "stats: schema");
    if (!s.ok()) {
      sqlite3_close(*db);
      return s;
    }
  }
  int64_t last_seq = 0;
  {
    Stmt max_seq(*db, "SELECT MAX(seq) FROM user_events WHERE event = '$exposure' AND seq IS NOT NULL");
    if (max_seq.ok() && max_seq.Step() == SQLITE_ROW) last_seq = max_seq.Int(0);
  }
  auto store = std::unique_ptr<StatsStore>(new StatsStore(*db, limits));
  store->next_seq_ = last_seq + 1;
  return store;
}

uint64_t StatsStore::EvictBarrenExposuresLocked(uint64_t want) {
  Stmt candidates(db_,
                  "SELECT app, flight, hour, arm, user FROM user_events "
                  "WHERE event = '$exposure' AND seq IS NOT NULL ORDER BY seq LIMIT ?1");
  Stmt engaged(db_, "SELECT 1 FROM user_events WHERE app = ?1 AND user = ?2 AND event != '$exposure' LIMIT 1");
  const char* key = " WHERE app = ?1 AND flight = ?2 AND event = '$exposure' AND hour = ?3 AND arm = ?4 AND user = ?5";
  Stmt keep(db_, (std::string("UPDATE user_events SET seq = NULL") + key).c_str());
  Stmt evict(db_, (std::string("DELETE FROM user_events") + key).c_str());
  if (!candidates.ok() || !engaged.ok() || !keep.ok() || !evict.ok()) return 0;
  struct Key {
    std::string app, flight;
    int64_t hour;
    std::string arm, user;
  };
  uint64_t evicted = 0;
  while (evicted < want) {
    std::vector<Key> keys;
    candidates.Bind(1, int64_t{kEvictChunk});
    while (candidates.Step() == SQLITE_ROW)
      keys.push_back({candidates.Text(0), candidates.Text(1), candidates.Int(2), candidates.Text(3), candidates.Text(4)});
    candidates.Reset();
    if (keys.empty()) break;
    for (const Key& k : keys) {
      if (evicted >= want) break;
      engaged.Bind(1, k.app).Bind(2, k.user);
      const bool has_events = engaged.Step() == SQLITE_ROW;
      engaged.Reset();
      // A user with events keeps the exposure for good (it leaves the order);
      // one without has not shown to be a real user yet: the oldest go first.
      Stmt& st = has_events ? keep : evict;
      st.Bind(1, k.app).Bind(2, k.flight).Bind(3, k.hour).Bind(4, k.arm).Bind(5, k.user);
      if (st.Run() != SQLITE_OK) return evicted;
      if (!has_events) ++evicted;
    }
  }
  return evicted;
}

uint64_t StatsStore::LiveBytes() {
  std::lock_guard lock(mu_);
  return LiveBytesLocked();
}

uint64_t StatsStore::LiveBytesLocked() {
  auto pragma = [this](const char* sql) -> int64_t {
    Stmt s(db_, sql);
    return s.ok() && s.Step() == SQLITE_ROW ? s.Int(0) : 0;
  };
  const int64_t pages = pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count");
  return static_cast<uint64_t>(std::max<int64_t>(0, pages) * pragma("PRAGMA page_size"));
}

Result<bool> StatsStore::EventNameAllowedLocked(const std::string& app, const std::string& event) {
  if (event == kExposure || event == kRequests) return true;
  auto it = event_names_.find(app);
  if (it == event_names_.end()) {
    if (event_names_.size() >= 10'000) event_names_.clear();  // a cache: the table is the truth
    it = event_names_.emplace(app, std::set<std::string>{}).first;
    Stmt q(db_, "SELECT event FROM event_names WHERE app = ?1");
    q.Bind(1, app);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) it->second.insert(q.Text(0));
    if (rc != SQLITE_DONE) {
      event_names_.erase(it);
      return DbError(db_, "event names");
    }
  }
  if (it->second.count(event)) return true;
  if (it->second.size() >= limits_.max_event_names_per_app) return false;
  Stmt add(db_, "INSERT OR IGNORE INTO event_names(app, event) VALUES(?1, ?2)");
  add.Bind(1, app).Bind(2, event);
  if (add.Run() != SQLITE_OK) return DbError(db_, "event names");
  it->second.insert(event);  // rolled back with the batch? then it is only a cache entry too many: harmless
  return true;
}

StatsStore::~StatsStore() { sqlite3_close(db_); }

Result<ShipOutcome> StatsStore::Ship(const v1::ShipStatsRequest& req, int64_t now_unix_s) {
  if (Status s = CheckShipRows(req); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (Status s = ExecSql(db_, "BEGIN IMMEDIATE", "stats"); !s.ok()) return s;
  auto rollback = [this](Status s) {
    (void)ExecSql(db_, "ROLLBACK", "stats");
    return s;
  };
  ShipOutcome out;
  {
    // Router ids are bounded: a token holder could invent one per batch.
    Stmt known(db_, "SELECT 1 FROM routers WHERE router = ?1");
    known.Bind(1, req.router());
    int rc = known.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rollback(DbError(db_, "routers"));
    if (rc == SQLITE_DONE) {
      Stmt count(db_, "SELECT COUNT(*) FROM routers");
      if (!count.ok() || count.Step() != SQLITE_ROW) return rollback(DbError(db_, "routers"));
      if (static_cast<uint64_t>(count.Int(0)) >= limits_.max_routers)
        return rollback(Status::ResourceExhausted(
            fmt::format("router: the hub knows {} router ids already (--stats-max-routers); ids not seen for "
                        "--stats-router-retention days are forgotten",
                        limits_.max_routers)));
    }
    Stmt touch(db_, "INSERT INTO routers(router, last_seen) VALUES(?1, ?2) "
                    "ON CONFLICT(router) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)");
    touch.Bind(1, req.router()).Bind(2, now_unix_s);
    if (touch.Run() != SQLITE_OK) return rollback(DbError(db_, "routers"));
  }
  {
    Stmt seen(db_, "INSERT OR IGNORE INTO batches(router, batch_id) VALUES(?, ?)");
    seen.Bind(1, req.router()).Bind(2, static_cast<int64_t>(req.batch_id()));
    if (seen.Run() != SQLITE_OK) return rollback(DbError(db_, "batch"));
    if (sqlite3_changes(db_) == 0) {
      out.duplicate = true;
      (void)ExecSql(db_, "ROLLBACK", "stats");
      return out;
    }
  }
  // At max_bytes keys that exist take rows (UPDATE); a new key takes the
  // place of an evicted exposure of a user with no events (the oldest
  // first), or is dropped when there is none.
  const bool full = LiveBytesLocked() >= limits_.max_bytes;
  uint64_t room = 0;  // exposures evicted for new keys not yet stored
  Stmt update(db_,
              "UPDATE user_events SET "
              "count = CASE WHEN event = '$exposure' THEN max(count, ?7) ELSE count + ?7 END, "
              "sum = sum + ?8, sum_sq = sum_sq + ?9 "
              "WHERE app = ?1 AND flight = ?2 AND event = ?3 AND hour = ?6 AND arm = ?4 AND user = ?5");
  Stmt add(db_,
           "INSERT INTO user_events(app, flight, event, arm, user, hour, count, sum, sum_sq, seq) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
           "ON CONFLICT(app, flight, event, hour, arm, user) DO UPDATE SET "
           "count = CASE WHEN excluded.event = '$exposure' THEN max(count, excluded.count) ELSE count + excluded.count END, "
           "sum = sum + excluded.sum, sum_sq = sum_sq + excluded.sum_sq");
  if (!add.ok() || !update.ok()) return rollback(DbError(db_, "prepare"));
  for (const auto& r : req.rows()) {
    auto allowed = EventNameAllowedLocked(r.app(), r.event());
    if (!allowed.ok()) return rollback(allowed.status());
    if (!*allowed) {
      ++out.dropped_event_names;
      continue;
    }
    auto bind = [&r](Stmt& st) {
      st.Bind(1, r.app()).Bind(2, r.flight()).Bind(3, r.event()).Bind(4, r.arm()).Bind(5, r.user());
      st.Bind(6, r.hour_unix_s()).Bind(7, static_cast<int64_t>(r.count())).BindDouble(8, r.sum());
      st.BindDouble(9, r.sum_squares());
    };
    if (full) {
      bind(update);
      if (update.Run() != SQLITE_OK) return rollback(DbError(db_, "add"));
      if (sqlite3_changes(db_) > 0) {
        ++out.accepted;
        continue;
      }
      if (room == 0) {
        room = EvictBarrenExposuresLocked(kEvictChunk);
        out.evicted_exposures += room;
      }
      if (room == 0) {
        ++out.dropped_full;
        continue;
      }
      --room;
    }
    bind(add);
    if (r.event() == kExposure) add.Bind(10, next_seq_++);
    if (add.Run() != SQLITE_OK) return rollback(DbError(db_, "add"));
    ++out.accepted;
  }
  if (req.traffic_size() > 0 && full) {
    // Traffic rows are few (per arm and minute); at max_bytes they wait for retention like new user keys.
    out.dropped_full += static_cast<uint64_t>(req.traffic_size());
  } else if (req.traffic_size() > 0) {
    const std::string sql = TrafficInsertSql();
    Stmt traffic(db_, sql.c_str());
    if (!traffic.ok()) return rollback(DbError(db_, "prepare"));
    for (const auto& t : req.traffic()) {
      traffic.Bind(1, t.app()).Bind(2, t.flight()).Bind(3, t.arm()).Bind(4, t.minute_unix_s());
      const uint64_t counts[] = {t.requests(),   t.status_1xx(), t.status_2xx(),    t.status_3xx(),
                                 t.status_4xx(), t.status_5xx(), t.latency_sum_us()};
      int col = 5;
      for (uint64_t c : counts) traffic.Bind(col++, static_cast<int64_t>(c));
      for (size_t b = 0; b < kLatencyBuckets; ++b)
        traffic.Bind(col++, b < static_cast<size_t>(t.latency_counts_size())
                                ? static_cast<int64_t>(t.latency_counts(static_cast<int>(b)))
                                : 0);
      if (traffic.Run() != SQLITE_OK) return rollback(DbError(db_, "add traffic"));
      ++out.accepted;
    }
  }
  // Batch ids only need remembering as long as a router may send one again;
  // it sends them in increasing order (router.proto).
  Stmt prune(db_, "DELETE FROM batches WHERE router = ?1 AND batch_id < ?2");
  prune.Bind(1, req.router()).Bind(2, static_cast<int64_t>(req.batch_id()) - kBatchIdWindow);
  if (prune.Run() != SQLITE_OK) return rollback(DbError(db_, "prune"));
  if (Status s = ExecSql(db_, "COMMIT", "stats"); !s.ok()) return rollback(s);
  return out;
}

Result<PruneOutcome> StatsStore::Prune(int64_t now_unix_s, int64_t user_retention_s, int64_t traffic_retention_s,
                                       int64_t router_retention_s) {
  PruneOutcome out;
  // Chunks by key, each its own transaction: Ship and Query interleave.
  auto prune = [this](const std::string& sql, int64_t before, uint64_t& deleted) -> Status {
    for (;;) {
      std::lock_guard lock(mu_);
      Stmt del(db_, sql.c_str());
      if (!del.ok()) return DbError(db_, "prune");
      del.Bind(1, before).Bind(2, int64_t{kPruneChunk});
      if (del.Run() != SQLITE_OK) return DbError(db_, "prune");
      const auto n = static_cast<uint64_t>(sqlite3_changes(db_));
      deleted += n;
      if (n < static_cast<uint64_t>(kPruneChunk)) return Status::Ok();
    }
  };
  if (user_retention_s > 0) {
    Status s = prune(
        "DELETE FROM user_events WHERE (app, flight, event, hour, arm, user) IN (SELECT app, flight, event, hour, "
        "arm, user FROM user_events WHERE hour < ?1 LIMIT ?2)",
        now_unix_s - user_retention_s, out.user_rows);
    if (!s.ok()) return s;
  }
  if (traffic_retention_s > 0) {
    Status s = prune(
        "DELETE FROM traffic WHERE (app, flight, minute, arm) IN (SELECT app, flight, minute, arm FROM traffic "
        "WHERE minute < ?1 LIMIT ?2)",
        now_unix_s - traffic_retention_s, out.traffic_rows);
    if (!s.ok()) return s;
  }
  if (router_retention_s > 0) {
    // One stale router id at a time with its batch ids (each a transaction).
    for (;;) {
      std::lock_guard lock(mu_);
      std::string router;
      {
        Stmt stale(db_, "SELECT router FROM routers WHERE last_seen < ?1 LIMIT 1");
        stale.Bind(1, now_unix_s - router_retention_s);
        const int rc = stale.Step();
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return DbError(db_, "prune routers");
        router = stale.Text(0);
      }
      if (Status s = ExecSql(db_, "BEGIN IMMEDIATE", "stats"); !s.ok()) return s;
      Stmt del_batches(db_, "DELETE FROM batches WHERE router = ?1");
      Stmt del_router(db_, "DELETE FROM routers WHERE router = ?1");
      del_batches.Bind(1, router);
      del_router.Bind(1, router);
      if (del_batches.Run() != SQLITE_OK || del_router.Run() != SQLITE_OK) {
        Status s = DbError(db_, "prune routers");
        (void)ExecSql(db_, "ROLLBACK", "stats");
        return s;
      }
      if (Status s = ExecSql(db_, "COMMIT", "stats"); !s.ok()) {
        (void)ExecSql(db_, "ROLLBACK", "stats");
        return s;
      }
      ++out.routers;
    }
  }
  return out;
}

Result<v1::StatsReport> StatsStore::Query(const v1::StatsQuery& q, int64_t now_unix_s) {
  if (q.app().empty()) return Status::InvalidArgument("app: required");
  auto hour_bucket = BucketExpr(q.by(), "hour");
  if (!hour_bucket.ok()) return hour_bucket.status();
  auto minute_bucket = BucketExpr(q.by(), "minute");
  if (!minute_bucket.ok()) return minute_bucket.status();
  const int64_t to = q.to_unix_s() > 0 ? q.to_unix_s() : now_unix_s + 1;
  // Hours and minutes are bucket starts: one that begins before `from` is not in the range.
  const int64_t from = q.from_unix_s() > 0 ? q.from_unix_s() : 0;
  std::map<std::pair<int64_t, std::string>, v1::ArmBucket> rows;  // by bucket, arm: the report's order
  auto row = [&rows](const std::string& arm, int64_t bucket) -> v1::ArmBucket& {
    v1::ArmBucket& r = rows[{bucket, arm}];
    r.set_arm(arm);
    r.set_bucket_unix_s(bucket);
    return r;
  };

  const std::string sql = fmt::format(
      "SELECT arm, {} AS bucket, "
      "COUNT(DISTINCT CASE WHEN event = ?5 THEN user END), "
      "SUM(CASE WHEN event = ?5 THEN count ELSE 0 END), "
      "SUM(CASE WHEN event = ?6 THEN count ELSE 0 END), "
      "SUM(CASE WHEN event = ?6 THEN sum ELSE 0 END) "
      "FROM user_events WHERE app = ?1 AND flight = ?2 AND hour >= ?3 AND hour < ?4 AND event IN (?5, ?6) "
      "GROUP BY arm, bucket",
      *hour_bucket);
  // Events: rows with their arm (routers before attribution by exposure),
  // and posted events joined to the arm of the user's latest exposure in
  // (app, flight) at or before their hour (ties: the arm first by name);
  // arm NULL = unattributed.
  auto event_bucket = BucketExpr(q.by(), "e.hour");
  if (!event_bucket.ok()) return event_bucket.status();
  const std::string events_sql = fmt::format(
      "SELECT arm, bucket, arm IS NULL, SUM(count), SUM(sum), SUM(sum_sq) FROM ("
      "SELECT arm, {0} AS bucket, user, count, sum, sum_sq FROM user_events "
      "WHERE app = ?1 AND flight = ?2 AND event = ?5 AND hour >= ?3 AND hour < ?4 AND arm != ?6 "
      "UNION ALL "
      "SELECT (SELECT x.arm FROM user_events x WHERE x.app = ?1 AND x.flight = ?2 AND x.event = '{2}' "
      "AND x.user = e.user AND x.hour <= e.hour ORDER BY x.hour DESC, x.arm LIMIT 1), "
      "{1}, e.user, e.count, e.sum, e.sum_sq FROM user_events e "
      "WHERE e.app = ?1 AND e.flight = '' AND e.event = ?5 AND e.arm = ?6 AND e.hour >= ?3 AND e.hour < ?4"
      ") GROUP BY bucket, arm, user ORDER BY bucket",
      *hour_bucket, *event_bucket, kExposure);
  std::string traffic_sql = fmt::format("SELECT arm, {} AS bucket", *minute_bucket);
  for (size_t i = 0; i < kTrafficCountCols; ++i) traffic_sql += fmt::format(", SUM({})", TrafficCol(i));
  traffic_sql += " FROM traffic WHERE app = ?1 AND flight = ?2 AND minute >= ?3 AND minute < ?4 GROUP BY arm, bucket";

  std::lock_guard lock(mu_);
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return DbError(db_, "query");
  s.Bind(1, q.app()).Bind(2, q.flight()).Bind(3, from).Bind(4, to).Bind(5, std::string(kExposure));
  s.Bind(6, std::string(kRequests));
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    v1::ArmBucket& r = row(s.Text(0), s.Int(1));
    r.set_users_exposed(static_cast<uint64_t>(s.Int(2)));
    r.set_exposures(static_cast<uint64_t>(s.Int(3)));
    r.set_requests(static_cast<uint64_t>(s.Int(4)));
    r.set_errors_5xx(static_cast<uint64_t>(s.Double(5) + 0.5));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "query");

  v1::StatsReport report;
  double cap_percentile = q.user_cap_percentile() > 0 ? q.user_cap_percentile() : limits_.user_cap_percentile;
  if (!(cap_percentile > 0 && cap_percentile < 100)) cap_percentile = 100;
  report.set_user_cap_percentile(cap_percentile);
  if (!q.event().empty()) {
    Stmt e(db_, events_sql.c_str());
    if (!e.ok()) return DbError(db_, "query events");
    e.Bind(1, q.app()).Bind(2, q.flight()).Bind(3, from).Bind(4, to).Bind(5, q.event());
    e.Bind(6, std::string(kByExposureArm));
    // A row per bucket, arm and user: the users' totals, capped per bucket (hub/stats/user_cap.h).
    struct User {
      v1::ArmBucket* arm;
      UserTotals totals;
    };
    std::vector<User> users;
    std::vector<double> magnitudes;
    int64_t bucket = 0;
    auto finish_bucket = [&] {
      const double cap = UserCap(magnitudes, cap_percentile);
      for (User& u : users) {
        v1::ArmBucket& r = *u.arm;
        r.set_users_with_event(r.users_with_event() + 1);
        r.set_event_count(r.event_count() + u.totals.count);
        r.set_raw_sum(r.raw_sum() + u.totals.sum);
        if (CapUser(u.totals, cap)) r.set_users_capped(r.users_capped() + 1);
        r.set_sum(r.sum() + u.totals.sum);
        r.set_sum_squares(r.sum_squares() + u.totals.sum_sq);
        r.set_user_cap(std::isfinite(cap) ? cap : 0);
      }
      users.clear();
      magnitudes.clear();
    };
    while ((rc = e.Step()) == SQLITE_ROW) {
      if (e.Int(2) != 0) {  // no exposure: counted for no arm
        report.set_unattributed_users(report.unattributed_users() + 1);
        report.set_unattributed_events(report.unattributed_events() + static_cast<uint64_t>(e.Int(3)));
        continue;
      }
      if (e.Int(1) != bucket) finish_bucket();
      bucket = e.Int(1);
      User u{&row(e.Text(0), bucket), {static_cast<uint64_t>(e.Int(3)), e.Double(4), e.Double(5)}};
      magnitudes.push_back(UserMagnitude(u.totals));
      users.push_back(u);
    }
    if (rc != SQLITE_DONE) return DbError(db_, "query events");
    finish_bucket();
  }

  Stmt t(db_, traffic_sql.c_str());
  if (!t.ok()) return DbError(db_, "query traffic");
  t.Bind(1, q.app()).Bind(2, q.flight()).Bind(3, from).Bind(4, to);
  while ((rc = t.Step()) == SQLITE_ROW) {
    v1::ArmBucket& r = row(t.Text(0), t.Int(1));
    auto count = [&t](int col) { return static_cast<uint64_t>(t.Int(col)); };
    r.set_requests(r.requests() + count(2));
    r.set_status_1xx(count(3));
    r.set_status_2xx(count(4));
    r.set_status_3xx(count(5));
    r.set_status_4xx(count(6));
    r.set_errors_5xx(r.errors_5xx() + count(7));
    r.set_latency_sum_us(count(8));
    std::array<uint64_t, kLatencyBuckets> hist{};
    uint64_t with_latency = 0;
    for (size_t b = 0; b < kLatencyBuckets; ++b) with_latency += hist[b] = count(9 + static_cast<int>(b));
    if (with_latency == 0) continue;
    for (uint64_t bound : kLatencyBoundsUs) r.add_latency_bounds_us(bound);
    for (uint64_t c : hist) r.add_latency_counts(c);
    r.set_latency_p50_us(LatencyQuantileUs(hist, 0.5));
    r.set_latency_p99_us(LatencyQuantileUs(hist, 0.99));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "query traffic");

  for (auto& [key, r] : rows) *report.add_rows() = std::move(r);
  return report;
}

}  // namespace skyport::hub
