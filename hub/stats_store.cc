#include "hub/stats_store.h"

#include <cmath>

#include <fmt/format.h>

#include "core/sqlite.h"

namespace skyport::hub {
namespace {

constexpr char kExposure[] = "$exposure";
constexpr char kRequests[] = "$requests";  // per arm and hour, user "*": count = requests, sum = 5xx

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS user_events(
  app TEXT NOT NULL, flight TEXT NOT NULL, event TEXT NOT NULL, arm TEXT NOT NULL, user TEXT NOT NULL,
  hour INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, sum_sq REAL NOT NULL,
  PRIMARY KEY(app, flight, event, hour, arm, user)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches(router TEXT NOT NULL, batch_id INTEGER NOT NULL,
  PRIMARY KEY(router, batch_id)) WITHOUT ROWID;
)sql";

// SQL for the start of the bucket holding `hour` (unix seconds, UTC).
Result<std::string> BucketExpr(const std::string& by) {
  if (by.empty()) return std::string("0");
  if (by == "hour") return std::string("hour");
  if (by == "day") return std::string("CAST(strftime('%s', hour, 'unixepoch', 'start of day') AS INTEGER)");
  if (by == "week")  // Monday 00:00: to the next Sunday (or today), then back 6 days
    return std::string(
        "CAST(strftime('%s', hour, 'unixepoch', 'start of day', 'weekday 0', '-6 days') AS INTEGER)");
  if (by == "month") return std::string("CAST(strftime('%s', hour, 'unixepoch', 'start of month') AS INTEGER)");
  return Status::InvalidArgument(fmt::format("by: \"{}\" is not one of hour, day, week, month", by));
}

Status CheckRow(const v1::UserEventRow& r, int i) {
  auto bad = [i](const char* field, const char* why) {
    return Status::InvalidArgument(fmt::format("rows[{}].{}: {}", i, field, why));
  };
  if (r.app().empty()) return bad("app", "required");
  if (r.arm().empty()) return bad("arm", "required");
  if (r.event().empty()) return bad("event", "required");
  if (r.user().empty()) return bad("user", "required");
  if (r.hour_unix_s() < 0 || r.hour_unix_s() % 3600 != 0) return bad("hour_unix_s", "must start a UTC hour");
  if (r.count() == 0) return bad("count", "must be at least 1");
  if (!std::isfinite(r.sum()) || !std::isfinite(r.sum_squares()) || r.sum_squares() < 0)
    return bad("sum", "sum and sum_squares must be finite, sum_squares >= 0");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<StatsStore>> StatsStore::Open(const std::string& path, bool fsync) {
  auto db = OpenSqlite(path, fsync, kSchema, "stats", "stats");
  if (!db.ok()) return db.status();
  return std::unique_ptr<StatsStore>(new StatsStore(*db));
}

StatsStore::~StatsStore() { sqlite3_close(db_); }

Result<ShipOutcome> StatsStore::Ship(const v1::ShipStatsRequest& req) {
  if (req.router().empty()) return Status::InvalidArgument("router: required");
  for (int i = 0; i < req.rows_size(); ++i)
    if (Status s = CheckRow(req.rows(i), i); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (Status s = ExecSql(db_, "BEGIN IMMEDIATE", "stats"); !s.ok()) return s;
  auto rollback = [this](Status s) {
    (void)ExecSql(db_, "ROLLBACK", "stats");
    return s;
  };
  ShipOutcome out;
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
  Stmt add(db_,
           "INSERT INTO user_events(app, flight, event, arm, user, hour, count, sum, sum_sq) "
           "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
           "ON CONFLICT(app, flight, event, hour, arm, user) DO UPDATE SET "
           "count = CASE WHEN excluded.event = '$exposure' THEN max(count, excluded.count) ELSE count + excluded.count END, "
           "sum = sum + excluded.sum, sum_sq = sum_sq + excluded.sum_sq");
  if (!add.ok()) return rollback(DbError(db_, "prepare"));
  for (const auto& r : req.rows()) {
    add.Bind(1, r.app()).Bind(2, r.flight()).Bind(3, r.event()).Bind(4, r.arm()).Bind(5, r.user());
    add.Bind(6, r.hour_unix_s()).Bind(7, static_cast<int64_t>(r.count())).BindDouble(8, r.sum());
    add.BindDouble(9, r.sum_squares());
    if (add.Run() != SQLITE_OK) return rollback(DbError(db_, "add"));
    ++out.accepted;
  }
  // Batch ids only need remembering as long as a router may retry one.
  Stmt prune(db_, "DELETE FROM batches WHERE router = ?1 AND batch_id < ?2");
  prune.Bind(1, req.router()).Bind(2, static_cast<int64_t>(req.batch_id()) - 100000);
  if (prune.Run() != SQLITE_OK) return rollback(DbError(db_, "prune"));
  if (Status s = ExecSql(db_, "COMMIT", "stats"); !s.ok()) return rollback(s);
  return out;
}

Result<v1::StatsReport> StatsStore::Query(const v1::StatsQuery& q, int64_t now_unix_s) {
  if (q.app().empty()) return Status::InvalidArgument("app: required");
  auto bucket = BucketExpr(q.by());
  if (!bucket.ok()) return bucket.status();
  int64_t to = q.to_unix_s() > 0 ? q.to_unix_s() : now_unix_s + 1;
  std::string sql = fmt::format(
      "SELECT arm, {} AS bucket, "
      "COUNT(DISTINCT CASE WHEN event = ?5 THEN user END), "
      "SUM(CASE WHEN event = ?5 THEN count ELSE 0 END), "
      "COUNT(DISTINCT CASE WHEN event = ?6 THEN user END), "
      "SUM(CASE WHEN event = ?6 THEN count ELSE 0 END), "
      "SUM(CASE WHEN event = ?6 THEN sum ELSE 0 END), "
      "SUM(CASE WHEN event = ?6 THEN sum_sq ELSE 0 END), "
      "SUM(CASE WHEN event = ?7 THEN count ELSE 0 END), "
      "SUM(CASE WHEN event = ?7 THEN sum ELSE 0 END) "
      "FROM user_events WHERE app = ?1 AND flight = ?2 AND hour >= ?3 AND hour < ?4 AND event IN (?5, ?6, ?7) "
      "GROUP BY arm, bucket ORDER BY bucket, arm",
      *bucket);
  std::lock_guard lock(mu_);
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return DbError(db_, "query");
  // Hours are bucket starts: an hour that begins before `from` is not in the range.
  int64_t from = q.from_unix_s() > 0 ? q.from_unix_s() : 0;
  s.Bind(1, q.app()).Bind(2, q.flight()).Bind(3, from).Bind(4, to).Bind(5, std::string(kExposure));
  s.Bind(6, q.event().empty() ? std::string(kExposure) : q.event());
  s.Bind(7, std::string(kRequests));
  v1::StatsReport report;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    auto* row = report.add_rows();
    row->set_arm(s.Text(0));
    row->set_bucket_unix_s(s.Int(1));
    row->set_users_exposed(static_cast<uint64_t>(s.Int(2)));
    row->set_exposures(static_cast<uint64_t>(s.Int(3)));
    row->set_requests(static_cast<uint64_t>(s.Int(8)));
    row->set_errors_5xx(static_cast<uint64_t>(s.Double(9) + 0.5));
    if (!q.event().empty()) {
      row->set_users_with_event(static_cast<uint64_t>(s.Int(4)));
      row->set_event_count(static_cast<uint64_t>(s.Int(5)));
      row->set_sum(s.Double(6));
      row->set_sum_squares(s.Double(7));
    }
  }
  if (rc != SQLITE_DONE) return DbError(db_, "query");
  return report;
}

}  // namespace skyport::hub
