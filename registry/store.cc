#include "registry/store.h"

#include <sqlite3.h>


#include <fmt/format.h>

#include "core/sqlite.h"

namespace skyport::registry {
namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases(id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS allocations(
  host TEXT NOT NULL, port INTEGER NOT NULL, lease INTEGER NOT NULL, app TEXT NOT NULL,
  commit_hash TEXT NOT NULL, role TEXT NOT NULL, instance INTEGER NOT NULL, endpoint INTEGER NOT NULL,
  PRIMARY KEY(host, port));
CREATE TABLE IF NOT EXISTS endpoints(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS routes(app TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, revision INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_revision ON events(revision);
)sql";


}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, bool fsync) {
  auto db = OpenSqlite(dir + "/registry.db", fsync, kSchema, "data", "storage");
  if (!db.ok()) return db.status();
  return std::unique_ptr<Store>(new Store(*db));
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Exec(const char* sql) { return ExecSql(db_, sql, "storage"); }

Result<int64_t> Store::EnsureStoreId(int64_t candidate) {
  if (Stmt ins(db_, "INSERT OR IGNORE INTO meta(key, value) VALUES('store_id', ?)"); ins.Bind(1, candidate).Run() != SQLITE_OK)
    return DbError(db_, "write store id");
  Stmt sel(db_, "SELECT value FROM meta WHERE key = 'store_id'");
  if (sel.Step() != SQLITE_ROW) return DbError(db_, "read store id");
  return sel.Int(0);
}

Result<Persisted> Store::Load(int64_t history) {
  Persisted p;
  {
    Stmt s(db_, "SELECT key, value FROM meta");
    while (s.Step() == SQLITE_ROW) {
      std::string k = s.Text(0);
      if (k == "revision") p.revision = s.Int(1);
      else if (k == "next_lease_id") p.next_lease_id = static_cast<uint64_t>(s.Int(1));
      else if (k == "next_endpoint_id") p.next_endpoint_id = static_cast<uint64_t>(s.Int(1));
    }
  }
  {
    Stmt s(db_, "SELECT id, ttl FROM leases");
    while (s.Step() == SQLITE_ROW) p.leases.emplace_back(static_cast<uint64_t>(s.Int(0)), static_cast<uint32_t>(s.Int(1)));
  }
  {
    // In the order the rows were written (REPLACE writes a new rowid): the last
    // unregistered one of an identity answers its retried Allocate (Restore).
    Stmt s(db_, "SELECT host, port, lease, app, commit_hash, role, instance, endpoint FROM allocations ORDER BY rowid");
    while (s.Step() == SQLITE_ROW) {
      Allocation a;
      a.host = s.Text(0);
      a.port = static_cast<uint32_t>(s.Int(1));
      a.lease_id = static_cast<uint64_t>(s.Int(2));
      a.app = s.Text(3);
      a.commit = s.Text(4);
      a.role = s.Text(5);
      a.instance = static_cast<uint32_t>(s.Int(6));
      a.endpoint_id = static_cast<uint64_t>(s.Int(7));
      p.allocations.push_back(std::move(a));
    }
  }
  {
    Stmt s(db_, "SELECT data FROM endpoints ORDER BY id");
    while (s.Step() == SQLITE_ROW) {
      v1::Endpoint ep;
      if (!ep.ParseFromString(s.Blob(0))) return Status::DataLoss("storage: corrupt endpoint row");
      p.endpoints.push_back(std::move(ep));
    }
  }
  {
    Stmt s(db_, "SELECT data FROM routes");
    while (s.Step() == SQLITE_ROW) {
      v1::RouteConfig r;
      if (!r.ParseFromString(s.Blob(0))) return Status::DataLoss("storage: corrupt route row");
      p.routes.push_back(std::move(r));
    }
  }
  {
    Stmt s(db_, "SELECT data FROM events WHERE revision > ? ORDER BY seq");
    s.Bind(1, p.revision - history);
    while (s.Step() == SQLITE_ROW) {
      v1::Event e;
      if (!e.ParseFromString(s.Blob(0))) return Status::DataLoss("storage: corrupt event row");
      p.events.push_back(std::move(e));
    }
  }
  last_trim_revision_ = p.revision;
  return p;
}

Status Store::Commit(const Changes& ch, const RegistryState& state) {
  if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](std::string_view what) {
    Status s = DbError(db_, what);
    (void)Exec("ROLLBACK");
    return s;
  };
  {
    Stmt put(db_, "INSERT OR REPLACE INTO leases(id, ttl) VALUES(?, ?)");
    Stmt del(db_, "DELETE FROM leases WHERE id = ?");
    for (uint64_t id : ch.leases) {
      const Lease* l = state.FindLease(id);
      int rc = l ? put.Bind(1, static_cast<int64_t>(id)).Bind(2, l->ttl_s).Run()
                 : del.Bind(1, static_cast<int64_t>(id)).Run();
      if (rc != SQLITE_OK) return fail("write lease");
    }
  }
  {
    Stmt put(db_,
             "INSERT OR REPLACE INTO allocations(host, port, lease, app, commit_hash, role, instance, endpoint) "
             "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    Stmt del(db_, "DELETE FROM allocations WHERE host = ? AND port = ?");
    for (const PortKey& k : ch.allocations) {
      const Allocation* a = state.FindAllocation(k);
      int rc = a ? put.Bind(1, a->host).Bind(2, a->port).Bind(3, static_cast<int64_t>(a->lease_id))
                       .Bind(4, a->app).Bind(5, a->commit).Bind(6, a->role).Bind(7, a->instance)
                       .Bind(8, static_cast<int64_t>(a->endpoint_id)).Run()
                 : del.Bind(1, k.host).Bind(2, k.port).Run();
      if (rc != SQLITE_OK) return fail("write allocation");
    }
  }
  {
    Stmt put(db_, "INSERT OR REPLACE INTO endpoints(id, data) VALUES(?, ?)");
    Stmt del(db_, "DELETE FROM endpoints WHERE id = ?");
    for (uint64_t id : ch.endpoints) {
      const v1::Endpoint* ep = state.FindEndpoint(id);
      int rc = ep ? put.Bind(1, static_cast<int64_t>(id)).BindBlob(2, ep->SerializeAsString()).Run()
                  : del.Bind(1, static_cast<int64_t>(id)).Run();
      if (rc != SQLITE_OK) return fail("write endpoint");
    }
  }
  {
    Stmt put(db_, "INSERT OR REPLACE INTO routes(app, data) VALUES(?, ?)");
    Stmt del(db_, "DELETE FROM routes WHERE app = ?");
    for (const std::string& app : ch.routes) {
      const v1::RouteConfig* r = state.FindRoute(app);
      int rc = r ? put.Bind(1, app).BindBlob(2, r->SerializeAsString()).Run() : del.Bind(1, app).Run();
      if (rc != SQLITE_OK) return fail("write route");
    }
  }
  {
    Stmt put(db_, "INSERT INTO events(revision, data) VALUES(?, ?)");
    for (const v1::Event& e : ch.events)
      if (put.Bind(1, e.revision()).BindBlob(2, e.SerializeAsString()).Run() != SQLITE_OK)
        return fail("write event");
  }
  {
    Stmt meta(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
    if (meta.Bind(1, std::string("revision")).Bind(2, state.revision()).Run() != SQLITE_OK ||
        meta.Bind(1, std::string("next_lease_id")).Bind(2, static_cast<int64_t>(state.next_lease_id())).Run() != SQLITE_OK ||
        meta.Bind(1, std::string("next_endpoint_id")).Bind(2, static_cast<int64_t>(state.next_endpoint_id())).Run() != SQLITE_OK)
      return fail("write counters");
  }
  // Trim the history now and then rather than on every batch.
  if (state.revision() - last_trim_revision_ >= 256) {
    Stmt trim(db_, "DELETE FROM events WHERE revision <= ?");
    if (trim.Bind(1, state.revision() - state.history()).Run() != SQLITE_OK) return fail("trim events");
    last_trim_revision_ = state.revision();
  }
  if (Status s = Exec("COMMIT"); !s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Status::Ok();
}

}  // namespace skyport::registry
