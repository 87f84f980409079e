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
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/status.h"
#include "skyport/v1/router.pb.h"

struct sqlite3;

namespace skyport::hub {

struct ShipOutcome {
  uint64_t accepted = 0;   // rows added
  bool duplicate = false;  // (router, batch_id) was stored before: nothing added
  uint64_t dropped_event_names = 0;  // rows of an event name beyond max_event_names_per_app
  uint64_t dropped_full = 0;         // rows of new keys while the store is at max_bytes
  uint64_t evicted_exposures = 0;    // exposures of users with no events evicted for new keys at max_bytes
};

// Bounds of the store, so that forged ids or names cannot grow it without
// limit (as Statsig and GrowthBook cap event names and cardinality): rows
// of an app's event name beyond the first max_event_names_per_app are
// dropped; once the live data reaches max_bytes rows of existing keys still
// add up, and a row of a new key (user, hour, arm) takes the place of an
// exposure whose user has no event rows in its app — the oldest such
// exposure first (by arrival) — or is dropped when there is none. So a
// flood of new users (exposures never followed by an event) cannot crowd
// out the exposures of users who post events: an exposure is kept once its
// user has an event, and a new user's exposure outlives the flood's older
// ones (a bounded cache's admission by evidence: the segmented-LRU idea of
// keeping what was used again). Drops and evictions are counted; retention
// (Prune) makes room again.
struct StatsStoreLimits {
  size_t max_event_names_per_app = 1000;   // "$exposure" and "$requests" not counted
  uint64_t max_bytes = uint64_t{4} << 30;  // live pages (the file keeps freed pages for reuse)
  // Router ids whose batch ids are remembered (dedup): a batch of a further
  // new id is refused RESOURCE_EXHAUSTED (the router keeps it and retries)
  // until retention (Prune, router_retention_s) forgets ids not seen lately.
  size_t max_routers = 10'000;
  // Not a bound of the store but of what one user can do to the statistics:
  // Query caps each user's total of the event at this percentile of the
  // users' totals (hub/stats/user_cap.h; StatsQuery.user_cap_percentile overrides
  // it; 100 = no capping). Statsig's default.
  double user_cap_percentile = 99.9;
};

struct PruneOutcome {
  uint64_t user_rows = 0;     // hourly user rows older than the retention
  uint64_t traffic_rows = 0;  // per-minute traffic rows older than theirs
  uint64_t routers = 0;       // router ids (and their batch ids) not seen for router_retention_s
};

class StatsStore {
 public:
  // Opens (creating) PATH. `fsync`: synchronous=FULL, else NORMAL.
  static Result<std::unique_ptr<StatsStore>> Open(const std::string& path, bool fsync = true,
                                                  StatsStoreLimits limits = {});
  ~StatsStore();

  // INVALID_ARGUMENT (naming the row: "rows[3].user", "traffic[0].minute_unix_s")
  // for a batch failing CheckShipRows (hub/stats/stats_check.h: names, aligned
  // hours and minutes, counts, finite sums, traffic classes and buckets).
  // Nothing is stored then. `accepted` counts user and traffic rows.
  // RESOURCE_EXHAUSTED, nothing stored: the batch of a router id not known
  // while max_routers are. `now_unix_s`: when its router was last seen.
  Result<ShipOutcome> Ship(const v1::ShipStatsRequest& req, int64_t now_unix_s = 0);

  // Per arm (and bucket when q.by is hour/day/week/month: UTC; weeks start on
  // Monday), over the rows whose hour (user rows) or minute (traffic) starts
  // in [from_unix_s, to_unix_s): users exposed and exposures ("$exposure"
  // rows), users with q.event and its count, sum and sum of squares (each
  // user's total capped at user_cap_percentile, per bucket: ArmBucket.sum,
  // with the raw sum, the cap and the users capped beside it); the
  // traffic: requests, 5xx (errors_5xx), the other status classes, latency
  // sum, p50 and p99 from the merged histogram and the histogram itself
  // (v1::ArmBucket documents each field). Rows sorted by bucket, arm; an arm
  // appears when it has either kind of row. `now_unix_s` stands for a
  // to_unix_s of 0. The flight tower and the CLI read gates from this.
  Result<v1::StatsReport> Query(const v1::StatsQuery& q, int64_t now_unix_s);

  // Retention: deletes user rows whose hour starts before
  // now - user_retention_s and traffic rows whose minute starts before
  // now - traffic_retention_s (<= 0: kept forever), in small transactions
  // so that shipments wait little. The freed pages are reused. Router ids
  // last seen before now - router_retention_s (> 0) are forgotten with their
  // batch ids: a router away that long sends no batch it sent before again.
  Result<PruneOutcome> Prune(int64_t now_unix_s, int64_t user_retention_s, int64_t traffic_retention_s,
                             int64_t router_retention_s = 0);

  // Live bytes (pages in use times the page size).
  uint64_t LiveBytes();

 private:
  StatsStore(sqlite3* db, StatsStoreLimits limits) : db_(db), limits_(limits) {}
  // Whether rows of `event` may be stored for `app` (adding it to the known names).
  Result<bool> EventNameAllowedLocked(const std::string& app, const std::string& event);
  uint64_t LiveBytesLocked();
  // At max_bytes: deletes up to `want` exposures, oldest first, of users
  // with no event rows in their app (marking those of users with events as
  // kept); returns how many. Inside Ship's transaction.
  uint64_t EvictBarrenExposuresLocked(uint64_t want);

  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
  const StatsStoreLimits limits_;
  int64_t next_seq_ = 1;  // guarded by mu_: arrival order of exposures (user_events.seq)
  std::map<std::string, std::set<std::string>, std::less<>> event_names_;  // guarded by mu_: by app, loaded lazily
};

}  // namespace skyport::hub
