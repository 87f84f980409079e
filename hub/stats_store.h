// The hub's durable store of experiment data: per user, arm, event and UTC
// hour, the counts, sums and sums of squares routers ship (StatsSink.Ship);
// per arm and UTC minute, the requests, status classes and latency histogram
// they answered (TrafficRow); and the per-arm aggregates queries and flight
// gates read (StatsSink.Query). SQLite in WAL mode; each shipment is one
// transaction, so a crash keeps a batch whole or not at all, and a batch id
// seen before is not counted again (remembered within 2^27 of the router's
// largest). Rows of equal key add up (exposures: the maximum).
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

  // INVALID_ARGUMENT (naming the row: "rows[3].user", "traffic[0].minute_unix_s")
  // for rows without app/arm/event/user, a negative or non-hour-aligned hour,
  // non-finite sums; traffic rows without app/arm, with a minute not aligned,
  // requests other than the status classes summed or over 16 latency buckets.
  // Nothing is stored then. `accepted` counts user and traffic rows.
  Result<ShipOutcome> Ship(const v1::ShipStatsRequest& req);

  // Per arm (and bucket when q.by is hour/day/week/month: UTC; weeks start on
  // Monday), over the rows whose hour (user rows) or minute (traffic) starts
  // in [from_unix_s, to_unix_s): users exposed and exposures ("$exposure"
  // rows), users with q.event and its count, sum and sum of squares; the
  // traffic: requests, 5xx (errors_5xx), the other status classes, latency
  // sum, p50 and p99 from the merged histogram and the histogram itself
  // (v1::ArmBucket documents each field). Rows sorted by bucket, arm; an arm
  // appears when it has either kind of row. `now_unix_s` stands for a
  // to_unix_s of 0. The flight tower and the CLI read gates from this.
  Result<v1::StatsReport> Query(const v1::StatsQuery& q, int64_t now_unix_s);

 private:
  explicit StatsStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

}  // namespace skyport::hub
