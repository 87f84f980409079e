#include "hub/flights/sqlite_flight_store.h"

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

Result<std::unique_ptr<SqliteFlightStore>> SqliteFlightStore::Open(const std::string& path) {
  auto db = OpenSqlite(path, /*fsync=*/true, kSchema, "flights", "flights");
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteFlightStore>(new SqliteFlightStore(*db));
}

SqliteFlightStore::~SqliteFlightStore() { sqlite3_close(db_); }

Status SqliteFlightStore::Save(const StoredFlight& f, const std::vector<v1::FlightLogEntry>& log) {
  std::lock_guard lock(mu_);
  if (Status s = ExecSql(db_, "BEGIN IMMEDIATE", "flights: begin"); !s.ok()) return s;
  auto fail = [&](std::string_view what) {
    Status s = DbError(db_, what);
    ExecSql(db_, "ROLLBACK", "flights: rollback");
    return s;
  };
  Stmt put(db_,
           "INSERT INTO flights(id, name, app, spec, state, finished, created_ms) VALUES(?,?,?,?,?,?,?) "
           "ON CONFLICT(id) DO UPDATE SET state = excluded.state, finished = excluded.finished");
  if (!put.ok()) return fail("flights: prepare");
  put.Bind(1, f.id).Bind(2, f.name).Bind(3, f.app).Bind(4, f.spec_json).Bind(5, f.state_json)
      .Bind(6, int64_t{f.finished ? 1 : 0}).Bind(7, f.created_unix_ms);
  if (put.Run() != SQLITE_OK) return fail("flights: save");
  if (!log.empty()) {
    Stmt last(db_, "SELECT COALESCE(MAX(seq), 0) FROM flight_log WHERE id = ?");
    if (!last.ok()) return fail("flights: prepare");
    last.Bind(1, f.id);
    int64_t seq = last.Step() == SQLITE_ROW ? last.Int(0) : 0;
    Stmt add(db_, "INSERT INTO flight_log(id, seq, unix_ms, step, kind, message, data) VALUES(?,?,?,?,?,?,?)");
    if (!add.ok()) return fail("flights: prepare");
    for (const auto& e : log) {
      add.Bind(1, f.id).Bind(2, ++seq).Bind(3, e.unix_ms()).Bind(4, e.step()).Bind(5, e.kind()).Bind(6, e.message())
          .Bind(7, e.data_json());
      if (add.Run() != SQLITE_OK) return fail("flights: log");
    }
  }
  if (Status s = ExecSql(db_, "COMMIT", "flights: commit"); !s.ok()) {
    ExecSql(db_, "ROLLBACK", "flights: rollback");
    return s;
  }
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

Result<std::vector<v1::FlightLogEntry>> SqliteFlightStore::Log(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT unix_ms, step, kind, message, data FROM flight_log WHERE id = ? ORDER BY seq");
  if (!q.ok()) return DbError(db_, "flights: prepare");
  q.Bind(1, id);
  std::vector<v1::FlightLogEntry> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    v1::FlightLogEntry e;
    e.set_unix_ms(q.Int(0));
    e.set_step(q.Text(1));
    e.set_kind(q.Text(2));
    e.set_message(q.Text(3));
    e.set_data_json(q.Text(4));
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "flights: log");
  return out;
}

}  // namespace skyport::hub
