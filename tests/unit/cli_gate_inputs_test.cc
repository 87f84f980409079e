#include <catch2/catch.hpp>

#include "cli/gate_inputs.h"

namespace skyport::cli {
namespace {

using nlohmann::json;

v1::StatsReport Report(std::initializer_list<std::tuple<std::string, uint64_t, uint64_t, uint64_t, double, double>> rows) {
  v1::StatsReport r;
  for (const auto& [arm, users, converted, events, sum, sum_sq] : rows) {
    auto* row = r.add_rows();
    row->set_arm(arm);
    row->set_users_exposed(users);
    row->set_users_with_event(converted);
    row->set_event_count(events);
    row->set_sum(sum);
    row->set_sum_squares(sum_sq);
  }
  return r;
}

const json kMerged = json::parse(R"({"apps": {"shop": {"arms": {
  "aaaa1111": {"requests": 1200, "status": {"2xx": 1190, "5xx": 10}, "latency_us": {"p99": 2400.5}},
  "bbbb2222": {"requests": 300, "status": {"5xx": 6}}}}}})");

TEST_CASE("TrafficOf sums an arm's requests, 5xx and latency histograms over buckets", "[cli][gate]") {
  v1::StatsReport r;
  auto add = [&r](const std::string& arm, uint64_t requests, uint64_t errors, std::vector<uint64_t> hist) {
    auto* row = r.add_rows();
    row->set_arm(arm);
    row->set_requests(requests);
    row->set_errors_5xx(errors);
    for (uint64_t c : hist) row->add_latency_counts(c);
  };
  // a: 100 requests at <= 250 us in one bucket, 100 at 1-2.5 ms in the next.
  add("a", 100, 1, {100});
  add("a", 100, 9, {0, 0, 0, 100});
  add("b", 50, 0, {});  // hourly rows of an older router: no latencies
  auto a = hub::TrafficFromReport(r, "a");
  CHECK(a.requests == 200);
  CHECK(a.errors == 10);
  // rank 198 of 200: the 98th of 100 in the 1000..2500 us bucket.
  CHECK(a.p99_us == Approx(1000 + 1500 * 0.98));
  auto b = hub::TrafficFromReport(r, "b");
  CHECK(b.requests == 50);
  CHECK(b.p99_us == 0);
  CHECK(hub::TrafficFromReport(r, "c").requests == 0);
}

TEST_CASE("OutcomeOf sums an arm's rows over buckets", "[cli][gate]") {
  auto r = Report({{"a", 100, 10, 12, 30.0, 90.0}, {"b", 50, 1, 1, 2.0, 4.0}, {"a", 20, 2, 3, 6.0, 12.0}});
  auto a = hub::OutcomeFromReport(r, "a");
  CHECK(a.users.users == 120);
  CHECK(a.users.converted == 12);
  CHECK(a.values.n == 15);
  CHECK(a.values.sum == 36.0);
  CHECK(a.values.sum_sq == 102.0);
  CHECK(hub::OutcomeFromReport(r, "c").users.users == 0);
}

TEST_CASE("GateArmNames unites routers, hub rows and weights", "[cli][gate]") {
  auto r = Report({{"cccc3333", 1, 0, 0, 0, 0}, {"aaaa1111", 1, 0, 0, 0, 0}});
  CHECK(GateArmNames(kMerged, "shop", r, {{"dddd4444", 1}}) ==
        std::vector<std::string>{"aaaa1111", "bbbb2222", "cccc3333", "dddd4444"});
}

TEST_CASE("ChooseGateArms: control and treatment by prefix or by default", "[cli][gate]") {
  const std::vector<std::string> arms = {"aaaa1111", "aaab2222", "bbbb3333"};
  const v1::StatsReport empty;
  auto two = ChooseGateArms({"aaaa1111", "bbbb3333"}, empty, {{"aaaa1111", 90}, {"bbbb3333", 10}}, "", "");
  REQUIRE(two.ok());
  CHECK(two->control == "aaaa1111");
  CHECK(two->treatment == "bbbb3333");

  auto flagged = ChooseGateArms(arms, empty, {}, "bbbb", "aaab");
  REQUIRE(flagged.ok());
  CHECK(flagged->control == "bbbb3333");
  CHECK(flagged->treatment == "aaab2222");

  // By users when there are no weights.
  auto by_users = ChooseGateArms({"aaaa1111", "bbbb3333"}, Report({{"bbbb3333", 50, 0, 0, 0, 0},
                                                                  {"aaaa1111", 10, 0, 0, 0, 0}}),
                                 {}, "", "");
  REQUIRE(by_users.ok());
  CHECK(by_users->control == "bbbb3333");

  auto ambiguous = ChooseGateArms(arms, empty, {}, "aaa", "");
  CHECK(ambiguous.status().message() == "control: aaa is ambiguous: aaaa1111, aaab2222");
  auto missing = ChooseGateArms(arms, empty, {}, "bbbb", "zz");
  CHECK(missing.status().message() == "arm: no arm starts with zz (arms: aaaa1111, aaab2222)");
  auto several = ChooseGateArms(arms, empty, {}, "bbbb", "");
  CHECK(several.status().message() ==
        "arm: several arms besides control bbbb3333; pass --arm (arms: aaaa1111, aaab2222)");
  auto alone = ChooseGateArms({"aaaa1111"}, empty, {{"aaaa1111", 1}}, "", "");
  CHECK(alone.status().message() == "arm: no other arm besides control aaaa1111; pass --arm (arms: none)");
  auto unknown = ChooseGateArms(arms, empty, {}, "", "");
  CHECK(unknown.status().message() ==
        "control: no weights or users to choose it by; pass --control (arms: aaaa1111, aaab2222, bbbb3333)");
}

}  // namespace
}  // namespace skyport::cli
