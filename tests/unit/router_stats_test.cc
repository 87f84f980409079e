#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "router/proxy.h"
#include "router/stats.h"

namespace skyport::router {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 1'700'000'000;

// `n` 200s of 1 ms each.
Counters Ok(uint64_t n) {
  Counters c;
  for (uint64_t i = 0; i < n; ++i) c.Record(200, 1'000, false);
  return c;
}

uint64_t Requests(const json& doc, const std::string& app, const std::string& commit) {
  return doc["apps"][app]["arms"][commit]["requests"].get<uint64_t>();
}

TEST_CASE("Counters: status classes, users, histogram buckets", "[router][stats]") {
  Counters c;
  c.Record(101, 0, false);
  c.Record(204, 250, true);    // on a bound: that bucket (le)
  c.Record(302, 251, false);   // just above: the next one
  c.Record(404, 20'000'000, false);  // beyond the last bound: +Inf
  c.Record(503, 1'000, true);
  c.Record(0, 1'000, false);   // no status sent: an error
  c.Record(600, 1'000, false);
  CHECK(c.requests == 7);
  CHECK(c.status_1xx == 1);
  CHECK(c.status_2xx == 1);
  CHECK(c.status_3xx == 1);
  CHECK(c.status_4xx == 1);
  CHECK(c.status_5xx == 3);
  CHECK(c.users_assigned == 2);
  CHECK(c.latency_sum_us == 0 + 250 + 251 + 20'000'000 + 3'000);
  CHECK(c.latency[0] == 2);
  CHECK(c.latency[1] == 1);
  CHECK(c.latency[2] == 3);
  CHECK(c.latency[kLatencyBuckets - 1] == 1);

  Counters d = c;
  d.Merge(c);
  CHECK(d.requests == 14);
  CHECK(d.status_5xx == 6);
  CHECK(d.latency[2] == 6);
  CHECK(d.latency_sum_us == 2 * c.latency_sum_us);
}

TEST_CASE("Counters: quantiles from the histogram", "[router][stats]") {
  Counters empty;
  CHECK(empty.QuantileUs(0.5) == 0);

  Counters c;
  // 100 samples in (1000, 2500]: linear inside the bucket.
  for (int i = 0; i < 100; ++i) c.Record(200, 2'000, false);
  CHECK(c.QuantileUs(0.5) == Approx(1'750));
  CHECK(c.QuantileUs(0.9) == Approx(2'350));
  CHECK(c.QuantileUs(1.0) == Approx(2'500));
  CHECK(c.QuantileUs(0.0) == Approx(1'000));
  CHECK(c.QuantileUs(7) == Approx(2'500));  // clamped

  // 90 fast, 10 very slow: p50 among the fast, p99 among the slow.
  Counters m;
  for (int i = 0; i < 90; ++i) m.Record(200, 100, false);  // (0, 250]
  for (int i = 0; i < 10; ++i) m.Record(200, 400'000, false);  // (250000, 500000]
  CHECK(m.QuantileUs(0.5) == Approx(250.0 * 50 / 90));
  CHECK(m.QuantileUs(0.9) == Approx(250));
  CHECK(m.QuantileUs(0.99) == Approx(250'000 + 250'000 * 0.9));

  // Everything beyond the last bound: the largest finite bound.
  Counters slow;
  slow.Record(200, 60'000'000, false);
  CHECK(slow.QuantileUs(0.5) == Approx(10'000'000));
}

TEST_CASE("StatsStore: Intern is stable per (app, commit)", "[router][stats]") {
  StatsStore store(60);
  uint32_t a = store.Intern("shop", "aaaa");
  uint32_t b = store.Intern("shop", "bbbb");
  uint32_t c = store.Intern("blog", "aaaa");
  CHECK(a != b);
  CHECK(a != c);
  CHECK(b != c);
  CHECK(store.Intern("shop", "aaaa") == a);
  CHECK(store.Intern("blog", "aaaa") == c);
}

TEST_CASE("StatsStore: window boundaries are (now - window, now]", "[router][stats]") {
  StatsStore store(60);
  uint32_t id = store.Intern("shop", "aaaa");
  store.Add(kT0 - 10, id, Ok(1));
  store.Add(kT0 - 9, id, Ok(10));
  store.Add(kT0, id, Ok(100));
  store.Add(kT0 + 1, id, Ok(1000));  // in the future of `now`: not counted

  CHECK(Requests(store.Json("", 10, kT0), "shop", "aaaa") == 110);  // kT0-10 is out
  CHECK(Requests(store.Json("", 11, kT0), "shop", "aaaa") == 111);
  CHECK(Requests(store.Json("", 1, kT0), "shop", "aaaa") == 100);
  CHECK(Requests(store.Json("", 1, kT0 + 1), "shop", "aaaa") == 1000);
  // Window clamped to the ring's size, and to at least one second.
  json wide = store.Json("", 100'000, kT0);
  CHECK(wide["window_seconds"] == 60);
  CHECK(wide["unix_s"] == kT0);
  CHECK(Requests(wide, "shop", "aaaa") == 111);
  CHECK(store.Json("", 0, kT0)["window_seconds"] == 1);
}

TEST_CASE("StatsStore: ring wrap-around and stale slots", "[router][stats]") {
  StatsStore store(10);
  uint32_t id = store.Intern("shop", "aaaa");
  for (int64_t t = kT0; t < kT0 + 25; ++t) store.Add(t, id, Ok(1));
  // Only the last 10 seconds are still in the ring.
  CHECK(Requests(store.Json("", 10, kT0 + 24), "shop", "aaaa") == 10);
  CHECK(Requests(store.Json("", 5, kT0 + 24), "shop", "aaaa") == 5);

  // Slots of seconds that had no traffic still hold older seconds: those must
  // read as zero, not as the current ones.
  store.Add(kT0 + 40, id, Ok(7));
  CHECK(Requests(store.Json("", 10, kT0 + 40), "shop", "aaaa") == 7);
  CHECK(Requests(store.Json("", 10, kT0 + 60), "shop", "aaaa") == 0);

  // Two adds to one second sum up; a second older than what its slot holds is
  // dropped from the ring (but still counted in the totals).
  store.Add(kT0 + 40, id, Ok(3));
  store.Add(kT0 + 30, id, Ok(1000));
  CHECK(Requests(store.Json("", 10, kT0 + 40), "shop", "aaaa") == 10);
  CHECK_THAT(store.Prometheus(),
             Catch::Contains("skyport_router_requests_total{app=\"shop\",commit=\"aaaa\",code=\"2xx\"} 1035\n"));
}

TEST_CASE("StatsStore: memory follows the seconds with traffic, not the window", "[router][stats]") {
  StatsStore store(3600);
  // A router lives through many deploys: every commit that served gets a series.
  for (int k = 0; k < 200; ++k) store.Add(kT0 + k, store.Intern("shop", fmt::format("c{}", k)), Ok(1));
  CHECK(store.SlotsHeld() == 200);  // one second each, not 200 windows of 3600
  uint32_t busy = store.Intern("shop", "busy");
  for (int64_t t = kT0; t < kT0 + 5000; t += 2) store.Add(t, busy, Ok(1));
  CHECK(store.SlotsHeld() == 200 + 1800);  // the busy arm: its seconds of the last hour
  CHECK(Requests(store.Json("shop", 3600, kT0 + 4999), "shop", "busy") == 1800);
}

TEST_CASE("StatsStore: Json shape, app filter, last minute", "[router][stats]") {
  StatsStore store(3600);
  uint32_t a = store.Intern("shop", "aaaa");
  uint32_t b = store.Intern("shop", "bbbb");
  uint32_t c = store.Intern("blog", "cccc");
  Counters mixed;
  mixed.Record(200, 1'000, true);
  mixed.Record(500, 3'000, false);
  store.Add(kT0 - 120, a, Ok(4));
  store.Add(kT0 - 30, a, mixed);
  store.Add(kT0, c, Ok(1));
  (void)b;

  json doc = store.Json("shop", 3600, kT0);
  CHECK(doc["window_seconds"] == 3600);
  CHECK(doc["apps"].size() == 1);
  REQUIRE(doc["apps"].contains("shop"));
  json arm = doc["apps"]["shop"]["arms"]["aaaa"];
  CHECK(arm["requests"] == 6);
  CHECK(arm["requests_last_minute"] == 2);
  CHECK(arm["status"] == json{{"1xx", 0}, {"2xx", 5}, {"3xx", 0}, {"4xx", 0}, {"5xx", 1}});
  CHECK(arm["users_assigned"] == 1);
  CHECK(arm["latency_sum_us"] == 8'000);
  CHECK(arm["latency_us"]["mean"].get<double>() == Approx(8'000.0 / 6));
  CHECK(arm["latency_us"]["p50"].get<double>() == Approx(500 + 500 * 3 / 5.0));  // rank 3 of 5 in (500, 1000]
  CHECK(arm["latency_histogram"]["bounds_us"].size() == kLatencyBoundsUs.size());
  CHECK(arm["latency_histogram"]["counts"].size() == kLatencyBuckets);
  CHECK(arm["latency_histogram"]["counts"][2] == 5);
  CHECK(arm["latency_histogram"]["counts"][4] == 1);
  // An interned arm without traffic is listed with zeros.
  json idle = doc["apps"]["shop"]["arms"]["bbbb"];
  CHECK(idle["requests"] == 0);
  CHECK(idle["latency_us"]["p99"] == 0.0);

  // The last minute does not depend on the window asked for.
  json narrow = store.Json("shop", 10, kT0);
  CHECK(narrow["apps"]["shop"]["arms"]["aaaa"]["requests"] == 0);
  CHECK(narrow["apps"]["shop"]["arms"]["aaaa"]["requests_last_minute"] == 2);
  CHECK(store.Json("shop", 60, kT0 + 29)["apps"]["shop"]["arms"]["aaaa"]["requests_last_minute"] == 2);
  CHECK(store.Json("shop", 60, kT0 + 30)["apps"]["shop"]["arms"]["aaaa"]["requests_last_minute"] == 0);

  json all = store.Json("", 60, kT0);
  CHECK(all["apps"].size() == 2);
  CHECK(Requests(all, "shop", "aaaa") == 2);
  CHECK(Requests(all, "blog", "cccc") == 1);
  CHECK(store.Json("nope", 60, kT0)["apps"] == json::object());
}

TEST_CASE("StatsShard: hands a second over when a newer one starts", "[router][stats]") {
  StatsStore store(60);
  uint32_t a = store.Intern("shop", "aaaa");
  uint32_t b = store.Intern("shop", "bbbb");
  StatsShard shard(&store);
  shard.Record(kT0, a, 200, 1'000, true);
  shard.Record(kT0, a, 200, 1'000, false);
  shard.Record(kT0, b, 404, 1'000, false);
  // Nothing reaches the store within the second.
  CHECK(Requests(store.Json("", 60, kT0), "shop", "aaaa") == 0);
  shard.Flush(kT0);
  CHECK(Requests(store.Json("", 60, kT0), "shop", "aaaa") == 0);

  shard.Record(kT0 + 1, a, 200, 1'000, false);  // kT0 handed over
  json doc = store.Json("", 1, kT0);
  CHECK(Requests(doc, "shop", "aaaa") == 2);
  CHECK(Requests(doc, "shop", "bbbb") == 1);
  CHECK(doc["apps"]["shop"]["arms"]["aaaa"]["users_assigned"] == 1);
  CHECK(doc["apps"]["shop"]["arms"]["bbbb"]["status"]["4xx"] == 1);

  // A late record of an older second joins the current one.
  shard.Record(kT0, b, 200, 1'000, false);
  shard.Flush(kT0 + 5);
  json later = store.Json("", 1, kT0 + 1);
  CHECK(Requests(later, "shop", "aaaa") == 1);
  CHECK(Requests(later, "shop", "bbbb") == 1);
  // Cleared after the handover: flushing again adds nothing.
  shard.Flush(kT0 + 6);
  CHECK(Requests(store.Json("", 60, kT0 + 6), "shop", "aaaa") == 3);
  CHECK(Requests(store.Json("", 60, kT0 + 6), "shop", "bbbb") == 2);
}

TEST_CASE("StatsStore: Prometheus exposition", "[router][stats]") {
  StatsStore store(60);
  uint32_t a = store.Intern("shop", "aaaa");
  store.Intern("we\"ird\\app\n", "bbbb");
  Counters c;
  c.Record(200, 100, true);      // le 0.00025
  c.Record(503, 2'000, false);   // le 0.0025
  c.Record(200, 30'000'000, false);  // +Inf
  store.Add(kT0, a, c);
  const std::string text = store.Prometheus();

  CHECK_THAT(text, Catch::StartsWith("# HELP skyport_router_requests_total "));
  CHECK_THAT(text, Catch::Contains("# TYPE skyport_router_requests_total counter\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE skyport_router_users_assigned_total counter\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE skyport_router_request_duration_seconds histogram\n"));
  CHECK_THAT(text, Catch::Contains("skyport_router_requests_total{app=\"shop\",commit=\"aaaa\",code=\"2xx\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("skyport_router_requests_total{app=\"shop\",commit=\"aaaa\",code=\"5xx\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("skyport_router_requests_total{app=\"shop\",commit=\"aaaa\",code=\"4xx\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("skyport_router_users_assigned_total{app=\"shop\",commit=\"aaaa\"} 1\n"));
  const std::string bucket = "skyport_router_request_duration_seconds_bucket{app=\"shop\",commit=\"aaaa\",le=";
  CHECK_THAT(text, Catch::Contains(bucket + "\"0.00025\"} 1\n"));
  CHECK_THAT(text, Catch::Contains(bucket + "\"0.001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains(bucket + "\"0.0025\"} 2\n"));
  CHECK_THAT(text, Catch::Contains(bucket + "\"1\"} 2\n"));
  CHECK_THAT(text, Catch::Contains(bucket + "\"10\"} 2\n"));
  CHECK_THAT(text, Catch::Contains(bucket + "\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("skyport_router_request_duration_seconds_sum{app=\"shop\",commit=\"aaaa\"} 30.0021\n"));
  CHECK_THAT(text, Catch::Contains("skyport_router_request_duration_seconds_count{app=\"shop\",commit=\"aaaa\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("{app=\"we\\\"ird\\\\app\\n\",commit=\"bbbb\",code=\"1xx\"} 0\n"));

  // Every line is a comment or `name{labels} value`; one HELP and TYPE per family.
  size_t helps = 0, samples = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# HELP ", 0) == 0) {
      ++helps;
    } else if (line.rfind("# TYPE ", 0) != 0) {
      ++samples;
      INFO(line);
      CHECK(line.rfind("skyport_router_", 0) == 0);
      CHECK(line.find("} ") != std::string::npos);
    }
  }
  CHECK(helps == 3);
  // Per arm: 5 status classes, 1 users, 16 buckets, sum, count.
  CHECK(samples == 2 * (5 + 1 + kLatencyBuckets + 2));
}

TEST_CASE("MergeStatsJson: sums routers per app and commit", "[router][stats]") {
  StatsStore r1(3600), r2(3600);
  uint32_t a1 = r1.Intern("shop", "aaaa");
  uint32_t b1 = r1.Intern("shop", "bbbb");
  uint32_t a2 = r2.Intern("shop", "aaaa");
  uint32_t c2 = r2.Intern("blog", "cccc");
  Counters fast, slow;
  for (int i = 0; i < 90; ++i) fast.Record(200, 100, i < 3);
  for (int i = 0; i < 10; ++i) slow.Record(500, 400'000, false);
  r1.Add(kT0 - 100, a1, fast);
  r1.Add(kT0, b1, Ok(5));
  r2.Add(kT0 - 10, a2, slow);
  r2.Add(kT0, c2, Ok(1));

  json merged = MergeStatsJson({r1.Json("", 3600, kT0), r2.Json("", 3600, kT0 + 1)});
  CHECK(merged["routers"] == 2);
  CHECK(merged["window_seconds"] == 3600);
  CHECK(merged["unix_s"] == kT0 + 1);
  json arm = merged["apps"]["shop"]["arms"]["aaaa"];
  CHECK(arm["requests"] == 100);
  CHECK(arm["requests_last_minute"] == 10);
  CHECK(arm["status"]["2xx"] == 90);
  CHECK(arm["status"]["5xx"] == 10);
  CHECK(arm["users_assigned"] == 3);
  CHECK(arm["latency_us"]["mean"].get<double>() == Approx((90 * 100 + 10 * 400'000) / 100.0));
  // Quantiles come from the summed histogram, not from the routers' own.
  Counters both = fast;
  both.Merge(slow);
  CHECK(arm["latency_us"]["p50"].get<double>() == Approx(both.QuantileUs(0.5)));
  CHECK(arm["latency_us"]["p99"].get<double>() == Approx(both.QuantileUs(0.99)));
  CHECK(arm["latency_histogram"]["counts"][0] == 90);
  CHECK(arm["latency_histogram"]["counts"][10] == 10);
  CHECK(Requests(merged, "shop", "bbbb") == 5);
  CHECK(Requests(merged, "blog", "cccc") == 1);

  // A merge of one document is that document (plus "routers").
  json one = r1.Json("shop", 600, kT0);
  json again = MergeStatsJson({one});
  CHECK(again["routers"] == 1);
  again.erase("routers");
  CHECK(again == one);
}

TEST_CASE("MergeStatsJson: tolerates missing and mistyped fields", "[router][stats]") {
  json partial = json::parse(R"({"apps": {"shop": {"arms": {
      "aaaa": {"requests": 4, "latency_us": {"mean": 10.0}},
      "bbbb": "nonsense"}}}})");
  json merged = MergeStatsJson({partial, json("not an object"), json::object()});
  CHECK(merged["routers"] == 3);
  CHECK(merged["window_seconds"] == 0);
  json arm = merged["apps"]["shop"]["arms"]["aaaa"];
  CHECK(arm["requests"] == 4);
  CHECK(arm["latency_sum_us"] == 40);  // from the mean when the sum is absent
  CHECK(arm["latency_us"]["p50"] == 0.0);
  CHECK(merged["apps"]["shop"]["arms"]["bbbb"]["requests"] == 0);
  CHECK(MergeStatsJson({})["apps"] == json::object());
}

TEST_CASE("local responses: each status the router answers has its own label, others count as \"other\"", "[router]") {
  // The event endpoint's 401/405/411/413 were once counted as 505.
  for (int status : {400, 401, 404, 405, 408, 411, 413, 431, 501, 502, 503, 504, 505})
    CHECK(std::string(kLocalErrorCodes[LocalErrorIndex(status)]) == std::to_string(status));
  for (int status : {402, 418, 500, 599})
    CHECK(std::string(kLocalErrorCodes[LocalErrorIndex(status)]) == "other");
}

}  // namespace
}  // namespace skyport::router
