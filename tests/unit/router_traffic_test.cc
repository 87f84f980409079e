#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "router/ship_batch.h"
#include "router/traffic.h"

namespace skyport::router {
namespace {

constexpr int64_t kMinute0 = 1'700'000'040;  // a minute start

std::vector<TrafficRow> DrainSorted(TrafficAggregator& agg) {
  std::vector<TrafficRow> rows;
  agg.Drain(rows);
  std::sort(rows.begin(), rows.end(), [](const TrafficRow& a, const TrafficRow& b) {
    return std::tie(a.app, a.flight, a.arm, a.minute_unix_s) < std::tie(b.app, b.flight, b.arm, b.minute_unix_s);
  });
  return rows;
}

TEST_CASE("MinuteStart rounds toward the past", "[router][traffic]") {
  CHECK(MinuteStart(kMinute0) == kMinute0);
  CHECK(MinuteStart(kMinute0 + 59) == kMinute0);
  CHECK(MinuteStart(kMinute0 + 60) == kMinute0 + 60);
  CHECK(MinuteStart(-1) == -60);
}

TEST_CASE("TrafficAggregator: per app, flight, arm and minute: requests, classes, latency", "[router][traffic]") {
  TrafficAggregator agg;
  CHECK(agg.Record("shop", "", "c1", kMinute0, 200, 100));
  CHECK(agg.Record("shop", "", "c1", kMinute0 + 59, 503, 3'000));  // same minute, the cached key
  CHECK(agg.Record("shop", "", "c1", kMinute0 + 60, 301, 600));    // next minute
  CHECK(agg.Record("shop", "f1", "c1", kMinute0, 404, 100));       // a flight's users are apart
  CHECK(agg.Record("shop", "", "c2", kMinute0, 101, 20'000'000));  // a tunnel; beyond the last bound
  CHECK(agg.Record("shop", "", "c1", kMinute0 + 1, 200, 250));     // back to the first key
  CHECK_FALSE(agg.Record("", "", "c1", kMinute0, 200, 1));
  CHECK_FALSE(agg.Record("shop", "", "", kMinute0, 200, 1));
  CHECK(agg.size() == 4);

  auto rows = DrainSorted(agg);
  REQUIRE(rows.size() == 4);
  const Counters& c1 = rows[0].counters;
  CHECK(rows[0].arm == "c1");
  CHECK(rows[0].flight == "");
  CHECK(rows[0].minute_unix_s == kMinute0);
  CHECK(c1.requests == 3);
  CHECK(c1.status_2xx == 2);
  CHECK(c1.status_5xx == 1);
  CHECK(c1.latency_sum_us == 3'350);
  CHECK(c1.latency[0] == 2);  // 100 and 250 us
  CHECK(c1.latency[4] == 1);  // 3 ms: 2.5..5 ms
  CHECK(rows[1].minute_unix_s == kMinute0 + 60);
  CHECK(rows[1].counters.status_3xx == 1);
  CHECK(rows[2].arm == "c2");
  CHECK(rows[2].counters.status_1xx == 1);
  CHECK(rows[2].counters.latency[kLatencyBuckets - 1] == 1);
  CHECK(rows[3].flight == "f1");
  CHECK(rows[3].counters.status_4xx == 1);
  CHECK(agg.size() == 0);
  std::vector<TrafficRow> empty;
  agg.Drain(empty);
  CHECK(empty.empty());
}

TEST_CASE("TrafficAggregator: beyond max_keys new keys are refused, known ones still count", "[router][traffic]") {
  TrafficAggregator agg(2);
  CHECK(agg.Record("shop", "", "c1", kMinute0, 200, 1));
  CHECK(agg.Record("shop", "", "c2", kMinute0, 200, 1));
  CHECK_FALSE(agg.Record("shop", "", "c3", kMinute0, 200, 1));
  CHECK(agg.Record("shop", "", "c1", kMinute0, 200, 1));
  std::vector<TrafficRow> rows;
  agg.Drain(rows);
  CHECK(rows.size() == 2);
  CHECK(agg.Record("shop", "", "c3", kMinute0, 200, 1));  // a drain makes room
}

TEST_CASE("AppendRows converts rows and traffic; trailing empty latency buckets are left out", "[router][traffic]") {
  TrafficAggregator agg;
  agg.Record("shop", "f1", "c1", kMinute0, 500, 600);  // bucket 2 (500..1000 us)
  std::vector<TrafficRow> traffic;
  agg.Drain(traffic);
  std::vector<UserEventRow> rows = {{"shop", "f1", "c1", "buy", "u1", 1'699'999'200, 2, 3.5, 6.25}};
  v1::ShipStatsRequest req;
  AppendRows(std::move(rows), std::move(traffic), req);
  REQUIRE(req.rows_size() == 1);
  CHECK(req.rows(0).event() == "buy");
  CHECK(req.rows(0).count() == 2);
  CHECK(req.rows(0).sum_squares() == 6.25);
  REQUIRE(req.traffic_size() == 1);
  const v1::TrafficRow& t = req.traffic(0);
  CHECK(t.flight() == "f1");
  CHECK(t.minute_unix_s() == kMinute0);
  CHECK(t.requests() == 1);
  CHECK(t.status_5xx() == 1);
  CHECK(t.latency_sum_us() == 600);
  CHECK(std::vector<uint64_t>(t.latency_counts().begin(), t.latency_counts().end()) ==
        std::vector<uint64_t>{0, 0, 1});
  CHECK(RowCount(req) == 2);
}

TEST_CASE("SplitBatch: parts of max_rows, ids from the segment, the same every time", "[router][traffic]") {
  v1::ShipStatsRequest whole;
  whole.set_router("r1/abc");
  for (int i = 0; i < 7; ++i) whole.add_rows()->set_user(fmt::format("u{}", i));
  for (int i = 0; i < 3; ++i) whole.add_traffic()->set_arm(fmt::format("c{}", i));
  auto parts = SplitBatch(whole, 42, 4);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].batch_id() == (42u << 10 | 0));
  CHECK(parts[2].batch_id() == (42u << 10 | 2));
  CHECK(parts[0].router() == "r1/abc");
  CHECK(parts[0].rows_size() == 4);
  CHECK(parts[1].rows_size() == 3);
  CHECK(parts[1].traffic_size() == 1);  // rows first, then traffic, order kept
  CHECK(parts[1].traffic(0).arm() == "c0");
  CHECK(parts[2].traffic_size() == 2);
  CHECK(SplitBatch(whole, 42, 4)[1].SerializeAsString() == parts[1].SerializeAsString());
  // Nothing: one empty part. Too many parts: larger parts, at most kMaxParts.
  CHECK(SplitBatch(v1::ShipStatsRequest{}, 7, 10).size() == 1);
  v1::ShipStatsRequest big;
  for (size_t i = 0; i < 3 * kMaxParts; ++i) big.add_traffic();
  auto few = SplitBatch(big, 1, 1);
  CHECK(few.size() == kMaxParts);
  CHECK(few.back().batch_id() == (1u << 10 | (kMaxParts - 1)));
}

}  // namespace
}  // namespace skyport::router
