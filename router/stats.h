// Per-arm traffic statistics: a per-second ring for the last hour per
// (app, commit), fed by the proxy workers. Pure apart from one mutex:
// time comes in as an argument.
//
// Workers never share counters on the hot path: each has a StatsShard that
// accumulates the current second and hands it to the StatsStore when the
// second changes (or on Flush). Readers (admin /stats, /metrics) ask the store.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/arm_stats.h"

namespace skyport::router {

class StatsStore {
 public:
  explicit StatsStore(int window_seconds = 3600);
  ~StatsStore();  // Series is private to stats.cc

  // Stable id for (app, commit); thread-safe; called when route tables are built.
  uint32_t Intern(const std::string& app, const std::string& commit);

  // Adds one second's counters of one arm (from a shard). Unknown ids are
  // ignored; a second a whole window older than the arm's newest only counts
  // in the cumulative totals. Memory per arm: the seconds with traffic in the
  // last window.
  void Add(int64_t unix_s, uint32_t id, const Counters& c);
  // Add for every id in `ids` (counters looked up in `by_id`), under one lock.
  void AddSecond(int64_t unix_s, const std::vector<uint32_t>& ids, const std::vector<Counters>& by_id);

  // {"window_seconds": W, "unix_s": now, "apps": {APP: {"arms": {COMMIT: {
  //    "requests", "status": {"1xx".."5xx"}, "users_assigned", "requests_last_minute",
  //    "latency_us": {"mean","p50","p90","p99"}, "latency_histogram": {"bounds_us": [...], "counts": [...]}}}}}}
  // over the last `window_s` seconds ending at now_unix_s (the seconds in
  // (now - window_s, now]; window_s is clamped to 1..window); app_filter "" = all.
  // "requests_last_minute" always covers the last 60 s (or the whole ring if shorter).
  // Every interned arm of a listed app appears, with zeros if it had no traffic.
  // Each arm also has "latency_sum_us" so that merged means stay exact.
  nlohmann::json Json(std::string_view app_filter, int window_s, int64_t now_unix_s) const;

  // Prometheus text: cumulative since start, per app and commit:
  // skyport_router_requests_total{app,commit,code="2xx"}, skyport_router_users_assigned_total,
  // skyport_router_request_duration_seconds_{bucket,sum,count}.
  std::string Prometheus() const;

  // Per-second slots held over all arms (memory follows the seconds with traffic).
  size_t SlotsHeld() const;

 private:
  struct Series;
  void AddLocked(int64_t unix_s, uint32_t id, const Counters& c);

  mutable std::mutex mu_;
  const int window_;
  std::map<std::pair<std::string, std::string>, uint32_t> ids_;  // guarded by mu_
  std::vector<std::unique_ptr<Series>> series_;                   // by id; guarded by mu_
};

// One per worker thread; not thread-safe.
class StatsShard {
 public:
  explicit StatsShard(StatsStore* store) : store_(store) {}
  void Record(int64_t unix_s, uint32_t id, int status, uint64_t latency_us, bool new_user);
  // Hands over the current second if it is older than `unix_s` (call ~4x a second).
  void Flush(int64_t unix_s);

 private:
  void HandOver();

  StatsStore* store_;
  int64_t second_ = 0;             // records of older seconds land here too
  std::vector<Counters> current_;  // by id
  std::vector<uint32_t> touched_;  // ids with records in current_
};

}  // namespace skyport::router
