#include <catch2/catch.hpp>

#include "cli/stats_table.h"
#include "router/stats.h"

using namespace skyport;
using namespace skyport::cli;
using nlohmann::json;

namespace {

constexpr int64_t kT0 = 1'700'000'000;
const std::string kA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const std::string kC = "cccccccccccccccccccccccccccccccccccccccc";

v1::Endpoint Router(std::string host, uint32_t port, std::string name) {
  v1::Endpoint ep;
  ep.set_app(kRouterApp);
  ep.set_role(kRouterAdminRole);
  ep.set_host(std::move(host));
  ep.set_port(port);
  if (!name.empty()) (*ep.mutable_meta())["name"] = std::move(name);
  return ep;
}

// Two routers' worth of traffic for "shop": kA on both, kB on one.
json Merged() {
  router::StatsStore r1(3600), r2(3600);
  router::Counters a1, a2, b;
  for (int i = 0; i < 97; ++i) a1.Record(200, 1'000, i < 10);
  for (int i = 0; i < 3; ++i) a2.Record(503, 2'000, false);
  a2.Record(302, 1'000, true);
  a2.Record(404, 1'000, false);
  b.Record(200, 400'000, true);
  r1.Add(kT0 - 300, r1.Intern("shop", kA), a1);
  r2.Add(kT0 - 5, r2.Intern("shop", kA), a2);
  r2.Add(kT0 - 5, r2.Intern("shop", kB), b);
  return router::MergeStatsJson({r1.Json("shop", 3600, kT0), r2.Json("shop", 3600, kT0)});
}

}  // namespace

TEST_CASE("RouterTargets: address and name per registered router", "[cli][stats]") {
  auto got = RouterTargets({Router("10.0.0.2", 9100, "edge-b"), Router("10.0.0.1", 9100, "edge-a"),
                            Router("::1", 9200, ""), Router("10.0.0.3", 9300, "")});
  REQUIRE(got.size() == 4);
  CHECK(got[0].name == "10.0.0.3:9300");
  CHECK(got[0].address == "10.0.0.3:9300");
  CHECK(got[1].name == "[::1]:9200");
  CHECK(got[1].address == "[::1]:9200");
  CHECK(got[2].name == "edge-a");
  CHECK(got[2].address == "10.0.0.1:9100");
  CHECK(got[3].name == "edge-b");
  CHECK(got[3].address == "10.0.0.2:9100");
  CHECK(RouterTargets({}).empty());
}

TEST_CASE("StatsPath", "[cli][stats]") { CHECK(StatsPath("shop", 600) == "/stats?app=shop&window=600"); }

TEST_CASE("StatsDocument: the body of a 200, else why not", "[cli][stats]") {
  auto ok = StatsDocument({200, "application/json", R"({"window_seconds": 60, "apps": {}})"});
  REQUIRE(ok.ok());
  CHECK((*ok)["window_seconds"] == 60);

  struct Row {
    AdminResponse resp;
    std::string message;
  };
  const Row rows[] = {
      {{401, "text/plain", "missing or wrong bearer token\n"}, "HTTP 401: missing or wrong bearer token"},
      {{404, "text/plain", ""}, "HTTP 404"},
      {{500, "text/plain", "boom\nmore\n"}, "HTTP 500: boom"},
      {{200, "application/json", "{not json"}, "not a /stats document (a JSON object with \"apps\")"},
      {{200, "application/json", "[1, 2]"}, "not a /stats document (a JSON object with \"apps\")"},
      {{200, "application/json", "{\"apps\": 3}"}, "not a /stats document (a JSON object with \"apps\")"},
  };
  for (const Row& r : rows) {
    INFO(r.resp.body);
    auto got = StatsDocument(r.resp);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kUnavailable);
    CHECK(got.status().message() == r.message);
  }
  auto long_body = StatsDocument({503, "text/plain", std::string(300, 'x')});
  CHECK(long_body.status().message() == "HTTP 503: " + std::string(200, 'x') + "...");
}

TEST_CASE("RouterWarning: names the router once", "[cli][stats]") {
  const RouterTarget named{"edge-1", "10.0.0.1:9100"};
  const RouterTarget bare{"10.0.0.1:9100", "10.0.0.1:9100"};
  CHECK(RouterWarning(named, Status::Unavailable("cannot connect to 10.0.0.1:9100: Connection refused")) ==
        "skyport: warning: router edge-1 (10.0.0.1:9100): cannot connect: Connection refused");
  CHECK(RouterWarning(bare, Status::Unavailable("10.0.0.1:9100: no answer within 1500 ms")) ==
        "skyport: warning: router 10.0.0.1:9100: no answer within 1500 ms");
  CHECK(RouterWarning(named, Status::Unavailable("HTTP 401: missing or wrong bearer token")) ==
        "skyport: warning: router edge-1 (10.0.0.1:9100): HTTP 401: missing or wrong bearer token");
}

TEST_CASE("RenderStatsTable: one row per arm, with weights", "[cli][stats]") {
  json merged = Merged();
  // kC has a weight but no traffic yet; kB has traffic but no weight.
  std::string got = RenderStatsTable(merged, "shop", {{kA, 90}, {kC, 10}});
  CHECK(got ==
        "shop: last 3600s, 2 routers\n"
        "COMMIT        WEIGHT  REQUESTS  LAST-MIN  2XX  3XX  4XX  5XX  ERR%   P50-MS  P99-MS  USERS\n"
        "aaaaaaaaaaaa  90      102       5         97   1    1    3    2.94%  0.8     2.0     11\n"
        "bbbbbbbbbbbb  -       1         1         1    0    0    0    0.00%  375.0   497.5   1\n"
        "cccccccccccc  10      0         0         0    0    0    0    -      -       -       0\n");
}

TEST_CASE("RenderStatsTable: no weights, no arms", "[cli][stats]") {
  json merged = Merged();
  std::string got = RenderStatsTable(merged, "shop", {});
  CHECK_THAT(got, Catch::StartsWith("shop: last 3600s, 2 routers\n"
                                    "COMMIT        REQUESTS  LAST-MIN  2XX  3XX  4XX  5XX  ERR%   P50-MS  P99-MS  USERS\n"
                                    "aaaaaaaaaaaa  102       5         97"));
  CHECK(RenderStatsTable(merged, "blog", {}) == "blog: last 3600s, 2 routers\nno arms: no router has routed this app\n");
  json one = router::MergeStatsJson({json::object()});
  CHECK(RenderStatsTable(one, "x", {}) == "x: last 0s, 1 router\nno arms: no router has routed this app\n");
}
