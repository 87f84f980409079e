#include "hub/flights/sqlite_flight_store.h"

#include <algorithm>
#include <limits>

#include "core/clock.h"
#include "core/prom_text.h"
#include "core/sqlite.h"

namespace skyport::hub {
namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS flights(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, app TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
  finished INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS flight_log(
  id TEXT NOT NULL, seq INTEGER NOT NULL, unix_ms INTEGER NOT NULL, step TEXT NOT NULL, kind TEXT NOT NULL,
  message TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY(id, seq)) WITHOUT ROWID;
)sql";

}  // namespace

Result<std::unique_ptr<SqliteFlightStore>> SqliteFlightStore::Open(const std::string& path, FlightBounds bounds) {
  auto db = OpenSqlite(path, /*fsync=*/true, kSchema, "flights", "flights");
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteFlightStore> store(new SqliteFlightStore(*db, bounds));
  Stmt q(*db, "SELECT created_ms, id FROM flights WHERE finished = 1");
  if (!q.ok()) return DbError(*db, "flights: prepare");
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) store->finished_[{q.Int(0), q.Text(1)}] = true;
  if (rc != SQLITE_DONE) return DbError(*db, "flights: load");
  return store;
}

SqliteFlightStore::~SqliteFlightStore() { sqlite3_close(db_); }

Status SqliteFlightStore::AppendLogLocked(const std::string& id, const BoundedStepLog& step, uint64_t* steps_deleted) {
  // Two queries, each a single probe of the primary key.
  Stmt oldest(db_, "SELECT seq FROM flight_log WHERE id = ? ORDER BY seq LIMIT 1");
  Stmt newest(db_, "SELECT seq FROM flight_log WHERE id = ? ORDER BY seq DESC LIMIT 1");
  if (!oldest.ok() || !newest.ok()) return DbError(db_, "flights: prepare");
  oldest.Bind(1, id);
  newest.Bind(1, id);
  const int rc_old = oldest.Step(), rc_new = newest.Step();
  if ((rc_old != SQLITE_ROW && rc_old != SQLITE_DONE) || rc_new != rc_old) return DbError(db_, "flights: log");
  const bool empty = rc_old == SQLITE_DONE;
  const uint64_t first = empty ? 0 : static_cast<uint64_t>(oldest.Int(0)) >> kLogStepShift;
  const uint64_t step_no = empty ? 0 : (static_cast<uint64_t>(newest.Int(0)) >> kLogStepShift) + 1;
  Stmt add(db_, "INSERT INTO flight_log(id, seq, unix_ms, step, kind, message, data) VALUES(?,?,?,?,?,?,?)");
  if (!add.ok()) return DbError(db_, "flights: prepare");
  int64_t seq = static_cast<int64_t>(step_no << kLogStepShift);
  for (const auto& e : step.entries) {
    add.Bind(1, id).Bind(2, seq++).Bind(3, e.unix_ms()).Bind(4, e.step()).Bind(5, e.kind()).Bind(6, e.message())
        .Bind(7, e.data_json());
    if (add.Run() != SQLITE_OK) return DbError(db_, "flights: log");
  }
  const uint64_t keep = FirstStepKept(first, step_no + 1, bounds_.log_steps);
  *steps_deleted = keep - first;
  if (keep == first) return Status::Ok();
  Stmt trim(db_, "DELETE FROM flight_log WHERE id = ? AND seq < ?");
  if (!trim.ok()) return DbError(db_, "flights: prepare");
  trim.Bind(1, id).Bind(2, static_cast<int64_t>(keep << kLogStepShift));
  if (trim.Run() != SQLITE_OK) return DbError(db_, "flights: trim log");
  return Status::Ok();
}

Status SqliteFlightStore::Save(const StoredFlight& f, const std::vector<v1::FlightLogEntry>& log) {
  std::lock_guard lock(mu_);
  const bool newly_finished = f.finished && !finished_.count({f.created_unix_ms, f.id});
  const std::vector<std::string> forget = FinishedToForget(finished_, f.id, newly_finished, bounds_.finished_flights,
                                                           std::numeric_limits<size_t>::max());
  const BoundedStepLog step = log.empty() ? BoundedStepLog{} : BoundStepLog(log);
  if (Status s = ExecSql(db_, "BEGIN IMMEDIATE", "flights: begin"); !s.ok()) return s;
  auto fail = [&](Status s) {
    ExecSql(db_, "ROLLBACK", "flights: rollback");
    return s;
  };
  Stmt put(db_,
           "INSERT INTO flights(id, name, app, spec, state, finished, created_ms) VALUES(?,?,?,?,?,?,?) "
           "ON CONFLICT(id) DO UPDATE SET state = excluded.state, finished = excluded.finished");
  if (!put.ok()) return fail(DbError(db_, "flights: prepare"));
  put.Bind(1, f.id).Bind(2, f.name).Bind(3, f.app).Bind(4, f.spec_json).Bind(5, f.state_json)
      .Bind(6, int64_t{f.finished ? 1 : 0}).Bind(7, f.created_unix_ms);
  if (put.Run() != SQLITE_OK) return fail(DbError(db_, "flights: save"));
  uint64_t steps_deleted = 0;
  if (!step.entries.empty())
    if (Status s = AppendLogLocked(f.id, step, &steps_deleted); !s.ok()) return fail(s);
  if (!forget.empty()) {
    Stmt del_flight(db_, "DELETE FROM flights WHERE id = ?");
    Stmt del_log(db_, "DELETE FROM flight_log WHERE id = ?");
    if (!del_flight.ok() || !del_log.ok()) return fail(DbError(db_, "flights: prepare"));
    for (const auto& id : forget) {
      del_flight.Bind(1, id);
      del_log.Bind(1, id);
      if (del_flight.Run() != SQLITE_OK || del_log.Run() != SQLITE_OK) return fail(DbError(db_, "flights: prune"));
    }
  }
  if (Status s = ExecSql(db_, "COMMIT", "flights: commit"); !s.ok()) return fail(s);
  ++saves_;
  if (f.finished) finished_[{f.created_unix_ms, f.id}] = true;
  for (auto it = finished_.begin(); it != finished_.end() && !forget.empty();)
    it = std::find(forget.begin(), forget.end(), it->first.second) != forget.end() ? finished_.erase(it) : ++it;
  bounds_report_.Saved(f.id, step.truncated, step.dropped, steps_deleted, forget, bounds_.finished_flights,
                       SystemClock::Get()->MonoMs());
  return Status::Ok();
}

Result<std::vector<StoredFlight>> SqliteFlightStore::LoadAll() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT id, name, app, spec, state, finished, created_ms FROM flights ORDER BY created_ms, id");
  if (!q.ok()) return DbError(db_, "flights: prepare");
  std::vector<StoredFlight> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW)
    out.push_back({q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Int(5) != 0, q.Int(6)});
  if (rc != SQLITE_DONE) return DbError(db_, "flights: load");
  return out;
}

Result<FlightLogTail> SqliteFlightStore::Log(const std::string& id, size_t max_bytes) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT unix_ms, step, kind, message, data, seq FROM flight_log WHERE id = ? ORDER BY seq DESC");
  if (!q.ok()) return DbError(db_, "flights: prepare");
  q.Bind(1, id);
  LogTail tail(max_bytes);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    v1::FlightLogEntry e;
    e.set_unix_ms(q.Int(0));
    e.set_step(q.Text(1));
    e.set_kind(q.Text(2));
    e.set_message(q.Text(3));
    e.set_data_json(q.Text(4));
    tail.Add(std::move(e));
    if (!tail.full()) continue;
    // The rest is only counted.
    Stmt older(db_, "SELECT COUNT(*) FROM flight_log WHERE id = ? AND seq < ?");
    if (!older.ok()) return DbError(db_, "flights: prepare");
    older.Bind(1, id).Bind(2, q.Int(5));
    if (older.Step() != SQLITE_ROW) return DbError(db_, "flights: log");
    tail.LeaveOut(static_cast<uint64_t>(older.Int(0)));
    rc = SQLITE_DONE;
    break;
  }
  if (rc != SQLITE_DONE) return DbError(db_, "flights: log");
  FlightLogTail out;
  out.older_left_out = tail.left_out();
  out.entries = tail.Take();
  return out;
}

std::string SqliteFlightStore::MetricsText() const {
  std::lock_guard lock(mu_);
  PromText out;
  out.Counter("skyport_hub_flight_store_saves_total", "Flight steps written to flights.db.", saves_);
  bounds_report_.Write(out);
  return out.Take();
}

}  // namespace skyport::hub
