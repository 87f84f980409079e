// Durable registry state in SQLite (WAL mode, synchronous=FULL): a batch of
// changes is one transaction, so an acknowledged write survives kill -9 and
// a failed one leaves nothing half-written.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "registry/state.h"

struct sqlite3;

namespace skyport::registry {

class Store {
 public:
  // Opens (creating if needed) DIR/registry.db. `fsync`: every commit is
  // synced to disk (survives power loss); otherwise commits reach the OS
  // (survive kill -9 of the registry) and SQLite syncs at checkpoints.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, bool fsync = true);
  ~Store();

  Result<Persisted> Load(int64_t history);
  // The store's id (WatchResponse.store_id): `candidate` (random) is kept the
  // first time, and the kept one returned ever after. A migration into DIR
  // starts a fresh database, and so a fresh id.
  Result<int64_t> EnsureStoreId(int64_t candidate);
  // Writes the current value (from `state`) of every key in `ch`, the events,
  // and the counters, in one transaction. On error nothing is written.
  Status Commit(const Changes& ch, const RegistryState& state);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  sqlite3* db_;
  int64_t last_trim_revision_ = 0;
};

}  // namespace skyport::registry
