// The hub's durable store of experiment data: per user, arm, event and UTC
// hour, the counts, sums and sums of squares routers ship (StatsSink.Ship),
// and the per-arm aggregates queries and flight gates read (StatsSink.Query).
// SQLite in WAL mode; each shipment is one transaction, so a crash keeps a
// batch whole or not at all, and a batch id seen before is not counted again.
// Thread-safe: one connection behind a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "skyport/v1/router.pb.h"

struct sqlite3;

namespace skyport::hub {

struct ShipOutcome {
  uint64_t accepted = 0;   // rows added
  bool duplicate = false;  // (router, batch_id) was stored before: nothing added
};

class StatsStore {
 public:
  // Opens (creating) PATH. `fsync`: synchronous=FULL, else NORMAL.
  static Result<std::unique_ptr<StatsStore>> Open(const std::string& path, bool fsync = true);
  ~StatsStore();

  // INVALID_ARGUMENT (naming the row) for rows without app/arm/event/user, a
  // negative or non-hour-aligned hour, or non-finite sums; nothing is stored then.
  Result<ShipOutcome> Ship(const v1::ShipStatsRequest& req);

  // Per arm (and bucket when q.by is hour/day/week/month: UTC; weeks start on
  // Monday): users exposed and exposures ("$exposure" rows), users with
  // q.event and its count, sum and sum of squares, requests and 5xx
  // ("$requests" rows). Rows sorted by bucket, arm.
  // `now_unix_s` stands for a to_unix_s of 0.
  Result<v1::StatsReport> Query(const v1::StatsQuery& q, int64_t now_unix_s);

 private:
  explicit StatsStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

}  // namespace skyport::hub
