// Small helpers over the SQLite C API for the daemons that keep state in it
// (registry, hub statistics). Header-only; include only where SQLite is linked.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/status.h"

namespace skyport {

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindDouble(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  // Runs a statement that returns no rows, then resets it for reuse.
  int Run() {
    int rc = sqlite3_step(s_);
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  // After Step()s of a query: ready to bind and step again.
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Double(int col) const { return sqlite3_column_double(s_, col); }
  std::string Text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }
  std::string Blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

inline Status DbError(sqlite3* db, std::string_view what) {
  return Status::Internal(fmt::format("storage: {}: {}", what, sqlite3_errmsg(db)));
}

// Runs SQL that returns no rows; a failure reads "<what>: <sqlite's message>".
inline Status ExecSql(sqlite3* db, const char* sql, std::string_view what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Status s = Status::Internal(fmt::format("{}: {}", what, err ? err : "unknown error"));
    sqlite3_free(err);
    return s;
  }
  return Status::Ok();
}

// The size the write-ahead log (`<db>-wal`) is cut back to once a checkpoint
// has copied it into the database: a large transaction (a big batch, a
// retention run) grows it, and without a limit it keeps its high-water mark
// on disk for good, outside any bound on the database itself.
inline constexpr int64_t kSqliteWalLimitBytes = int64_t{8} << 20;

// Opens (creating it and its directory) the database at `path` in WAL mode
// (checkpoints every 1000 pages, the log cut back to kSqliteWalLimitBytes),
// synchronous FULL (`fsync`) or NORMAL, and runs `schema`. Errors opening say
// "<open_what>: cannot …"; errors in the SQL "<sql_what>: …". The caller owns
// the handle (sqlite3_close).
inline Result<sqlite3*> OpenSqlite(const std::string& path, bool fsync, const char* schema, std::string_view open_what,
                                   std::string_view sql_what) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return Status::InvalidArgument(fmt::format("{}: cannot create {}: {}", open_what, dir.string(), ec.message()));
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::InvalidArgument(fmt::format("{}: cannot open {}: {}", open_what, path, msg));
  }
  const std::string wal_limit = fmt::format("PRAGMA journal_size_limit={}", kSqliteWalLimitBytes);
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=1000", wal_limit.c_str(),
                          fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", schema}) {
    if (Status s = ExecSql(db, sql, sql_what); !s.ok()) {
      sqlite3_close(db);
      return s;
    }
  }
  return db;
}

}  // namespace skyport
