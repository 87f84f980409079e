// The cumulative view of `skyport stats --by --event --json` (cli/experiment_series.h).
#include <catch2/catch.hpp>

#include "cli/experiment_series.h"
#include "contract/stats_math.h"

using namespace skyport;
using namespace skyport::cli;
using nlohmann::json;

namespace {

constexpr int64_t kMay1 = 1714521600;  // 2024-05-01T00:00:00Z, a Wednesday

v1::ArmBucket Arm(const std::string& name, uint64_t users, uint64_t converted) {
  v1::ArmBucket r;
  r.set_arm(name);
  r.set_users_exposed(users);
  r.set_users_with_event(converted);
  return r;
}

Look MakeLook(int64_t bucket, int64_t until, std::vector<v1::ArmBucket> rows) {
  Look l{bucket, until, {}};
  for (auto& r : rows) *l.report.add_rows() = r;
  return l;
}

}  // namespace

TEST_CASE("LookEnds: each bucket's end, sorted, unique, clipped, the newest kMaxLooks", "[cli][experiment]") {
  using router::Granularity;
  auto hours = LookEnds({kMay1 + 7200, kMay1, kMay1 + 7200}, Granularity::kHour, 0);
  REQUIRE(hours.size() == 2);
  CHECK(hours[0] == std::pair<int64_t, int64_t>{kMay1, kMay1 + 3600});
  CHECK(hours[1] == std::pair<int64_t, int64_t>{kMay1 + 7200, kMay1 + 10800});
  auto months = LookEnds({kMay1}, Granularity::kMonth, 0);
  CHECK(months[0].second == kMay1 + 31 * 86400);  // June 1st
  auto clipped = LookEnds({kMay1}, Granularity::kDay, kMay1 + 600);
  CHECK(clipped[0].second == kMay1 + 600);
  std::vector<int64_t> many;
  for (int i = 0; i < 40; ++i) many.push_back(kMay1 + i * 86400);
  auto newest = LookEnds(many, Granularity::kDay, 0);
  REQUIRE(newest.size() == kMaxLooks);
  CHECK(newest.front().first == kMay1 + (40 - int64_t(kMaxLooks)) * 86400);
  CHECK(newest.back().first == kMay1 + 39 * 86400);
  CHECK(LookEnds({}, Granularity::kDay, 0).empty());
}

TEST_CASE("CumulativeJson: lift with its interval and the sequential p, per look", "[cli][experiment]") {
  const std::vector<Look> looks = {
      MakeLook(kMay1, kMay1 + 86400, {Arm("b", 500, 60), Arm("a", 500, 50)}),
      MakeLook(kMay1 + 86400, kMay1 + 2 * 86400, {Arm("a", 1000, 100), Arm("b", 1000, 200)}),
      MakeLook(kMay1 + 2 * 86400, kMay1 + 3 * 86400, {Arm("a", 1500, 150), Arm("b", 1500, 165)}),
  };
  json doc = CumulativeJson(looks, "a");
  REQUIRE(doc.size() == 3);
  CHECK(doc[0]["bucket"] == "2024-05-01T00:00:00Z");
  CHECK(doc[0]["until_unix_s"] == kMay1 + 86400);
  const json& a = doc[1]["arms"][0];
  const json& b = doc[1]["arms"][1];
  CHECK(a["arm"] == "a");  // sorted by name
  CHECK(a["control"] == true);
  CHECK(a["delta_conversion"].is_null());
  CHECK(a["sequential_p"].is_null());
  CHECK(b["users"] == 1000);
  CHECK(b["converted"] == 200);
  CHECK(b["conversion_rate"] == 0.2);
  auto z = hub::TwoProportionZTest({1000, 100}, {1000, 200});
  REQUIRE(z.ok());
  CHECK(b["delta_conversion"]["difference"] == z->difference);
  CHECK(b["delta_conversion"]["ci"] == json::array({z->ci.low, z->ci.high}));
  CHECK(b["delta_conversion"]["p"] == z->p_value);
  // The sequential p is the running minimum: it never rises, even when the lift shrinks (look 3).
  const double p1 = doc[0]["arms"][1]["sequential_p"], p2 = doc[1]["arms"][1]["sequential_p"],
               p3 = doc[2]["arms"][1]["sequential_p"];
  CHECK(p2 <= p1);
  CHECK(p3 == p2);
  CHECK(p2 < 0.05);  // +10 points on 1000 users per arm: the mSPRT rejects
}

TEST_CASE("CumulativeJson: no control in a look, or no users yet: null deltas", "[cli][experiment]") {
  json doc = CumulativeJson({MakeLook(kMay1, kMay1 + 3600, {Arm("b", 10, 1)}),
                             MakeLook(kMay1 + 3600, kMay1 + 7200, {Arm("a", 0, 0), Arm("b", 20, 2)})},
                            "a");
  CHECK(doc[0]["arms"].size() == 1);
  CHECK(doc[0]["arms"][0]["delta_conversion"].is_null());
  CHECK(doc[0]["arms"][0]["sequential_p"].is_null());
  CHECK(doc[1]["arms"][1]["delta_conversion"].is_null());  // control without users: no test
  CHECK(doc[1]["arms"][1]["sequential_p"].is_null());
  CHECK(CumulativeJson({}, "a") == json::array());
}
