// Request counters per (app, flight, arm, UTC minute), the durable side of
// the router's traffic statistics: workers count every answered request here
// (besides their per-second StatsShard for /stats) and ship the counters to
// the hub with the experiment rows, where rows of equal key add up. Pure: the
// time is an argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/stats.h"

namespace skyport::router {

struct TrafficRow {
  std::string app, flight, arm;
  int64_t minute_unix_s = 0;  // start of the UTC minute
  Counters counters;          // users_assigned stays 0: the hub counts users by exposures
};

// Accumulates between drains; one per worker thread, not thread-safe.
class TrafficAggregator {
 public:
  // Distinct (app, flight, arm, minute) keys between two drains; beyond it
  // Record refuses (a drain a second never comes near it).
  explicit TrafficAggregator(size_t max_keys = 1 << 16) : max_keys_(max_keys) {}

  // Counts one answered request of the arm in the minute of unix_s. False
  // (nothing counted; the caller counts the drop) when app or arm is empty or
  // a new key would exceed max_keys. Repeats of the previous key cost no hash.
  bool Record(std::string_view app, std::string_view flight, std::string_view arm, int64_t unix_s, int status,
              uint64_t latency_us);

  // Appends one row per key counted since the last drain (in no particular
  // order) to `out` and starts afresh.
  void Drain(std::vector<TrafficRow>& out);

  size_t size() const { return rows_.size(); }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  size_t max_keys_;
  std::vector<TrafficRow> rows_;
  // "app\0flight\0arm\0" + the minute's 8 bytes -> index in rows_.
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> index_;
  std::string key_buf_;
  size_t last_ = SIZE_MAX;  // rows_ index of the previous Record
};

// Start of the UTC minute holding unix_s (rounds toward the past).
int64_t MinuteStart(int64_t unix_s);

}  // namespace skyport::router
