// Per-user capping of event values at analysis time (hub/stats/user_cap.h) and
// the store's query that applies it: one user cannot move an arm's mean.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "hub/stats/stats_store.h"
#include "hub/stats/user_cap.h"
#include "test_util.h"

namespace skyport::hub {
namespace {

using skyport::testing::TempDir;

constexpr double kNone = std::numeric_limits<double>::infinity();

TEST_CASE("UserCap: nearest rank below the percentile; none at 100, for fewer than 2 users", "[hub][stats]") {
  struct Case {
    std::vector<double> m;
    double p;
    double cap;
  };
  const std::vector<Case> cases = {
      {{}, 99.9, kNone},
      {{5}, 99.9, kNone},
      {{1, 1e12}, 99.9, 1},           // two users: the larger is capped at the other
      {{3, 1e12, 7, 5}, 99.9, 7},     // up to 1001 users: at the second largest
      {{3, 1e12, 7, 5}, 100, kNone},  // off
      {{3, 1e12, 7, 5}, 0, kNone},    // not a percentile: off
      {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 50, 6},
      {{10, 10, 10, 1e9}, 99.9, 10},
  };
  for (const Case& c : cases) {
    std::vector<double> m = c.m;
    INFO(fmt::format("{} at p{}", fmt::join(c.m, ","), c.p));
    CHECK(UserCap(m, c.p) == c.cap);
  }
  // 10000 users: the top 10 are over the cap (rank floor(0.999 * 9999) = 9989).
  std::vector<double> many;
  for (int i = 1; i <= 10000; ++i) many.push_back(i);
  CHECK(UserCap(many, 99.9) == 9990);
}

TEST_CASE("CapUser: scales the user's values down together; sums of squares too", "[hub][stats]") {
  UserTotals u{4, 400, 40000};  // four events of 100
  CHECK(CapUser(u, 100));
  CHECK(u.count == 4);
  CHECK(u.sum == Approx(100));
  CHECK(u.sum_sq == Approx(2500));  // four events of 25
  UserTotals small{1, 50, 2500};
  CHECK_FALSE(CapUser(small, 100));
  CHECK(small.sum == 50);
  // +x and -x cancel in the sum but not in the magnitude.
  UserTotals pair{2, 0, 2e24};
  CHECK(UserMagnitude(pair) == Approx(std::sqrt(2e24)));
  CHECK(CapUser(pair, 10));
  CHECK(pair.sum_sq == Approx(100));
  UserTotals neg{1, -1e12, 1e24};
  CHECK(CapUser(neg, 10));
  CHECK(neg.sum == Approx(-10));
  CHECK_FALSE(CapUser(neg, kNone));
}

v1::UserEventRow Row(const std::string& event, const std::string& arm, const std::string& user, double value) {
  v1::UserEventRow r;
  r.set_app("webapp");
  r.set_flight(event == "$exposure" ? "f1" : "");
  r.set_arm(event == "$exposure" ? arm : "$by-exposure");
  r.set_event(event);
  r.set_user(user);
  r.set_hour_unix_s(1795395600);
  r.set_count(1);
  r.set_sum(value);
  r.set_sum_squares(value * value);
  return r;
}

TEST_CASE("stats store: one user's huge purchase does not decide the arm's mean", "[hub][stats]") {
  TempDir dir;
  StatsStoreLimits limits;  // the default percentile, 99.9
  auto store = StatsStore::Open(dir.path() + "/stats.db", false, limits);
  REQUIRE(store.ok());
  v1::ShipStatsRequest req;
  req.set_router("r1/0123456789ab");
  req.set_batch_id(1);
  // 50 users per arm buy for 10; one treatment user (a token holder, say) posts 1e12.
  for (int i = 0; i < 50; ++i) {
    for (const char* arm : {"control", "treatment"}) {
      const std::string user = fmt::format("{}-{}", arm, i);
      *req.add_rows() = Row("$exposure", arm, user, 0);
      *req.add_rows() = Row("purchase", arm, user, i == 0 && std::string(arm) == "treatment" ? 1e12 : 10);
    }
  }
  REQUIRE((*store)->Ship(req, 1795395600).ok());
  v1::StatsQuery q;
  q.set_app("webapp");
  q.set_flight("f1");
  q.set_event("purchase");
  auto mean = [&](double percentile) {
    q.set_user_cap_percentile(percentile);
    auto r = (*store)->Query(q, 1795399200);
    REQUIRE(r.ok());
    std::map<std::string, v1::ArmBucket> arms;
    for (const auto& row : r->rows()) arms[row.arm()] = row;
    return arms;
  };
  auto capped = mean(0);  // the hub's default
  REQUIRE(capped.size() == 2);
  const v1::ArmBucket& t = capped["treatment"];
  CHECK(t.event_count() == 50);
  CHECK(t.sum() / 50 == Approx(10));  // capped at the second largest total: 10
  CHECK(t.raw_sum() == Approx(1e12 + 490));
  CHECK(t.users_capped() == 1);
  CHECK(t.user_cap() == 10);
  CHECK(t.sum_squares() == Approx(50 * 100.0));
  CHECK(capped["control"].users_capped() == 0);
  CHECK(capped["control"].sum() == Approx(500));
  auto raw = mean(100);  // off
  CHECK(raw["treatment"].sum() == Approx(1e12 + 490));
  CHECK(raw["treatment"].users_capped() == 0);
  CHECK(raw["treatment"].user_cap() == 0);
}

}  // namespace
}  // namespace skyport::hub
