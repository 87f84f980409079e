#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cli/split_plan.h"
#include "contract/route.h"

namespace skyport::cli {
namespace {

using router::Slice;

const std::string kA = "aaaa111122223333444455556666777788889999";
const std::string kB = "bbbb111122223333444455556666777788889999";
const std::string kC = "cccc111122223333444455556666777788889999";
const std::vector<std::string> kRunning = {kA, kB, kC};

v1::RouteConfig Current(const std::map<std::string, uint32_t>& weights, const std::vector<Slice>& slices,
                        int64_t revision = 5) {
  v1::RouteConfig r;
  r.set_app("web");
  r.set_split_id("s1");
  r.set_revision(revision);
  for (const auto& [c, w] : weights) (*r.mutable_weights())[c] = w;
  for (const Slice& s : slices) {
    auto* out = r.add_slices();
    out->set_commit(s.commit);
    out->set_ge(s.ge);
    out->set_lt(s.lt);
  }
  return r;
}

SplitRequest Request(const std::map<std::string, uint32_t>& weights) {
  SplitRequest req;
  req.app = "web";
  req.weights = weights;
  req.new_split_id = "s-new";
  return req;
}

std::vector<Slice> SlicesOf(const v1::RouteConfig& r) {
  std::vector<Slice> out;
  for (const auto& s : r.slices()) out.push_back({s.commit(), s.ge(), s.lt()});
  return out;
}

TEST_CASE("PlanSplit: no config yet: a fresh layout under a new split id", "[cli][split]") {
  SplitRequest req = Request({{kB, 10}, {kA, 90}});
  req.hosts = std::vector<std::string>{"shop.example.com"};
  auto plan = PlanSplit(std::nullopt, req, kRunning);
  REQUIRE(plan.ok());
  CHECK(plan->expected_revision == 0);
  CHECK(plan->new_split);
  CHECK(plan->moved == 1.0);
  CHECK(plan->route.app() == "web");
  CHECK(plan->route.split_id() == "s-new");
  CHECK_FALSE(plan->route.allow_override());
  CHECK(plan->route.hosts_size() == 1);
  CHECK(plan->route.path_prefixes_size() == 0);
  CHECK(plan->route.revision() == 0);
  CHECK(SlicesOf(plan->route) == std::vector<Slice>{{kA, 0, 900'000}, {kB, 900'000, 1'000'000}});
  CHECK(plan->route.weights().at(kA) == 90);
}

TEST_CASE("PlanSplit: refused while a flight owns the route", "[cli][split]") {
  v1::RouteConfig cur = Current({{kA, 90}, {kB, 10}}, {});
  cur.mutable_flight()->set_name("checkout-v2");
  cur.mutable_flight()->set_id("s1");
  cur.mutable_flight()->set_control(kA);
  auto plan = PlanSplit(cur, Request({{kA, 50}, {kB, 50}}), kRunning);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.status().code() == Code::kFailedPrecondition);
  CHECK_THAT(plan.status().message(), Catch::Contains("flight checkout-v2 is active on web"));
  CHECK_THAT(plan.status().message(), Catch::Contains("skyport flight kill checkout-v2"));
}

TEST_CASE("PlanSplit: new weights rebalance; everything else is kept", "[cli][split]") {
  v1::RouteConfig cur = Current({{kA, 90}, {kB, 10}}, {{kA, 0, 900'000}, {kB, 900'000, 1'000'000}});
  cur.set_allow_override(true);
  cur.add_hosts("shop.example.com");
  cur.add_path_prefixes("/shop/");
  auto plan = PlanSplit(cur, Request({{kA, 80}, {kB, 20}}), kRunning);
  REQUIRE(plan.ok());
  CHECK(plan->expected_revision == 5);
  CHECK_FALSE(plan->new_split);
  CHECK(plan->moved == Approx(0.10));
  CHECK(plan->route.split_id() == "s1");
  CHECK(plan->route.allow_override());
  CHECK(plan->route.hosts(0) == "shop.example.com");
  CHECK(plan->route.path_prefixes(0) == "/shop/");
  CHECK(plan->route.revision() == 0);
  CHECK(SlicesOf(plan->route) == std::vector<Slice>{{kA, 0, 800'000}, {kB, 800'000, 1'000'000}});

  // Explicit options win.
  SplitRequest req = Request({{kA, 80}, {kB, 20}});
  req.allow_override = false;
  req.hosts = std::vector<std::string>{};
  req.path_prefixes = std::vector<std::string>{"/a/", "/b/"};
  auto changed = PlanSplit(cur, req, kRunning);
  REQUIRE(changed.ok());
  CHECK_FALSE(changed->route.allow_override());
  CHECK(changed->route.hosts_size() == 0);
  CHECK(changed->route.path_prefixes_size() == 2);
}

TEST_CASE("PlanSplit: the current layout is what routers use (abbreviated keys, no slices)", "[cli][split]") {
  // Written by hand: abbreviated commits, no slices -> routers lay out the
  // weights in key order and resolve the keys to the running commits.
  v1::RouteConfig cur = Current({{"aaaa", 90}, {"bbbb1", 10}}, {});
  auto plan = PlanSplit(cur, Request({{kA, 80}, {kB, 20}}), kRunning);
  REQUIRE(plan.ok());
  CHECK(plan->old_layout == std::vector<Slice>{{kA, 0, 900'000}, {kB, 900'000, 1'000'000}});
  CHECK(plan->moved == Approx(0.10));
  CHECK(plan->route.weights_size() == 2);  // the abbreviated keys are gone
  CHECK(plan->route.weights().count("aaaa") == 0);

  // Invalid slices are ignored the same way routers ignore them.
  v1::RouteConfig bad = Current({{kA, 1}, {kB, 1}}, {{kA, 0, 10}});
  auto from_bad = PlanSplit(bad, Request({{kA, 1}, {kB, 1}}), kRunning);
  REQUIRE(from_bad.ok());
  CHECK(from_bad->moved == 0.0);
}

TEST_CASE("PlanSplit: a commit left out gives its users to the others; weight 0 gets none", "[cli][split]") {
  v1::RouteConfig cur = Current({{kA, 1}, {kB, 1}, {kC, 1}}, {});
  auto plan = PlanSplit(cur, Request({{kA, 1}, {kB, 1}, {kC, 0}}), kRunning);
  REQUIRE(plan.ok());
  CHECK(router::LayoutShares(plan->new_layout) == std::map<std::string, uint32_t>{{kA, 500'000}, {kB, 500'000}});
  CHECK(plan->moved == Approx(333'333 / 1e6));
  CHECK(plan->route.weights().at(kC) == 0);
  for (const auto& s : plan->route.slices()) CHECK(s.commit() != kC);
}

TEST_CASE("PlanSplit: --new-test re-deals under the new id, from a fresh layout", "[cli][split]") {
  v1::RouteConfig cur = Current({{kA, 10}, {kB, 90}}, {{kB, 0, 900'000}, {kA, 900'000, 1'000'000}});
  SplitRequest req = Request({{kA, 50}, {kB, 50}});
  req.new_test = true;
  auto plan = PlanSplit(cur, req, kRunning);
  REQUIRE(plan.ok());
  CHECK(plan->new_split);
  CHECK(plan->expected_revision == 5);
  CHECK(plan->route.split_id() == "s-new");
  CHECK(SlicesOf(plan->route) == std::vector<Slice>{{kA, 0, 500'000}, {kB, 500'000, 1'000'000}});
}

TEST_CASE("SplitSummary and ShowSplit", "[cli][split]") {
  v1::RouteConfig cur = Current({{kA, 90}, {kB, 10}}, {});
  auto plan = PlanSplit(cur, Request({{kA, 80}, {kB, 20}}), kRunning);
  REQUIRE(plan.ok());
  CHECK(SplitSummary(*plan, 6) ==
        "split web: s1, route revision 6\n"
        "COMMIT        WEIGHT  SHARE\n"
        "aaaa11112222  80      80.0%\n"
        "bbbb11112222  20      20.0%\n"
        "moved: 10.0% of users\n");
  auto first = PlanSplit(std::nullopt, Request({{kA, 2}, {kB, 1}}), kRunning);
  CHECK(SplitSummary(*first, 1) ==
        "split web: s-new, route revision 1\n"
        "COMMIT        WEIGHT  SHARE\n"
        "aaaa11112222  2       66.7%\n"
        "bbbb11112222  1       33.3%\n"
        "first split of the app: every user is dealt a commit\n");
  SplitRequest again = Request({{kA, 1}});
  again.new_test = true;
  CHECK_THAT(SplitSummary(*PlanSplit(cur, again, kRunning), 7),
             Catch::EndsWith("new split id: every user is dealt again\n"));

  cur.add_hosts("shop.example.com");
  cur.add_hosts("www.shop.example.com");
  CHECK(ShowSplit(cur) ==
        "split web: s1, route revision 5\n"
        "COMMIT        WEIGHT  SHARE\n"
        "aaaa11112222  90      90.0%\n"
        "bbbb11112222  10      10.0%\n"
        "override: off\n"
        "hosts: shop.example.com www.shop.example.com\n"
        "path prefixes: -\n");
  v1::RouteConfig empty;
  empty.set_app("web");
  CHECK_THAT(ShowSplit(empty), Catch::Contains("no weights: routers send everyone to the most recently deployed"));
}

TEST_CASE("SplitWarnings: relative shares said plainly, running commits left out named", "[cli]") {
  const std::string a(40, 'a'), b(40, 'b'), c(40, 'c');
  CHECK(SplitWarnings({{a, 90}, {b, 10}}, {a, b, a}).empty());
  auto w = SplitWarnings({{a, 9}, {b, 1}}, {a, b});
  REQUIRE(w.size() == 1);
  CHECK(w[0] == "weights sum to 10, not 100: they are relative shares (aaaaaaaaaaaa 90.0%, bbbbbbbbbbbb 10.0%)");
  w = SplitWarnings({{a, 100}}, {a, b, c, b});
  REQUIRE(w.size() == 2);
  CHECK(w[0] == "running commit bbbbbbbbbbbb is not in the split: it gets no traffic");
  CHECK(w[1] == "running commit cccccccccccc is not in the split: it gets no traffic");
  w = SplitWarnings({{a, 150}, {b, 50}}, {a});
  REQUIRE(w.size() == 1);
  CHECK_THAT(w[0], Catch::Contains("sum to 200") && Catch::Contains("75.0%") && Catch::Contains("25.0%"));
}

TEST_CASE("DeployedOutsideSplitNote: only a commit a split leaves out, with the command that adds it", "[cli]") {
  const std::string a(40, 'a'), b(40, 'b'), c(40, 'c');
  v1::RouteConfig route;
  CHECK_FALSE(contract::DeployedOutsideSplitNote("web", c, route));  // no split: the newest takes all
  (*route.mutable_weights())[a] = 90;
  (*route.mutable_weights())[b.substr(0, 8)] = 10;  // a prefix, as routers read it
  auto note = contract::DeployedOutsideSplitNote("web", c, route);
  REQUIRE(note);
  CHECK(*note == "web splits its traffic and cccccccccccc is not in the split: it gets no traffic. To send it about "
                 "10% of users: skyport split web aaaaaaaaaaaa=90 bbbbbbbb=10 cccccccccccc=11");
  CHECK_FALSE(contract::DeployedOutsideSplitNote("web", a, route));
  CHECK_FALSE(contract::DeployedOutsideSplitNote("web", b, route));  // named by its prefix
  (*route.mutable_weights())[c] = 0;  // in the config with no weight: still no traffic
  CHECK(contract::DeployedOutsideSplitNote("web", c, route));
}

}  // namespace
}  // namespace skyport::cli
