#include <catch2/catch.hpp>

#include <algorithm>

#include "hub/deploys/targets.h"

namespace skyport::hub {
namespace {

using Names = std::vector<std::string>;
using Labels = std::map<std::string, std::string>;

v1::DeployTarget Target(Names drones = {}, Labels labels = {}, uint32_t count = 0) {
  v1::DeployTarget t;
  for (const auto& d : drones) t.add_drones(d);
  for (const auto& [k, v] : labels) (*t.mutable_labels())[k] = v;
  t.set_count(count);
  return t;
}

// A small fleet, listed out of name order on purpose.
std::vector<DroneView> Fleet() {
  return {
      {"eu-2", {{"region", "eu"}, {"disk", "ssd"}}, true, 5},
      {"us-1", {{"region", "us"}, {"disk", "ssd"}}, true, 1},
      {"eu-1", {{"region", "eu"}, {"disk", "hdd"}}, true, 2},
      {"eu-3", {{"region", "eu"}, {"disk", "ssd"}}, true, 2},
      {"off-1", {{"region", "eu"}, {"disk", "ssd"}}, false, 0},  // known but not attached
      {"bare", {}, true, 9},
  };
}

TEST_CASE("ChooseTargets: the drones a target picks", "[hub][targets]") {
  struct Row {
    const char* name;
    v1::DeployTarget target;
    Names want;
  };
  const Row rows[] = {
      {"default: every connected drone, sorted", Target(), {"bare", "eu-1", "eu-2", "eu-3", "us-1"}},
      {"named", Target({"us-1", "eu-1"}), {"eu-1", "us-1"}},
      {"named once", Target({"eu-3"}), {"eu-3"}},
      {"named twice is once", Target({"eu-3", "eu-3", "us-1", "eu-3"}), {"eu-3", "us-1"}},
      {"one label", Target({}, {{"region", "eu"}}), {"eu-1", "eu-2", "eu-3"}},
      {"all labels must match", Target({}, {{"region", "eu"}, {"disk", "ssd"}}), {"eu-2", "eu-3"}},
      {"label value must match exactly", Target({}, {{"disk", "ssd"}}), {"eu-2", "eu-3", "us-1"}},
      {"names and labels together", Target({"eu-1", "eu-2", "us-1"}, {{"region", "eu"}}), {"eu-1", "eu-2"}},
      {"count picks the least loaded", Target({}, {}, 1), {"us-1"}},
      {"count 2: loads 1 and 2 (tie eu-1/eu-3 by name)", Target({}, {}, 2), {"eu-1", "us-1"}},
      {"count 3: both of the tie", Target({}, {}, 3), {"eu-1", "eu-3", "us-1"}},
      {"count equal to the matching drones", Target({}, {{"region", "eu"}}, 3), {"eu-1", "eu-2", "eu-3"}},
      {"count with labels", Target({}, {{"region", "eu"}, {"disk", "ssd"}}, 1), {"eu-3"}},
      {"count among named drones", Target({"bare", "eu-2"}, {}, 1), {"eu-2"}},
      {"count 0 means every match", Target({}, {{"region", "eu"}}, 0), {"eu-1", "eu-2", "eu-3"}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    auto got = ChooseTargets(r.target, Fleet());
    REQUIRE(got.ok());
    CHECK(*got == r.want);
  }
}

TEST_CASE("ChooseTargets: count ties break by name whatever the input order", "[hub][targets]") {
  std::vector<DroneView> drones = {
      {"c", {}, true, 0}, {"a", {}, true, 0}, {"d", {}, true, 0}, {"b", {}, true, 0}};
  auto got = ChooseTargets(Target({}, {}, 2), drones);
  REQUIRE(got.ok());
  CHECK(*got == Names{"a", "b"});
  std::reverse(drones.begin(), drones.end());
  got = ChooseTargets(Target({}, {}, 2), drones);
  REQUIRE(got.ok());
  CHECK(*got == Names{"a", "b"});
}

TEST_CASE("ChooseTargets: errors are FAILED_PRECONDITION and say which constraint failed", "[hub][targets]") {
  struct Row {
    const char* name;
    v1::DeployTarget target;
    std::vector<DroneView> drones;
    std::vector<std::string> message_has;
  };
  const Row rows[] = {
      {"named drone unknown", Target({"eu-1", "ghost"}), Fleet(), {"\"ghost\"", "not attached"}},
      {"named drone known but not attached", Target({"off-1"}), Fleet(), {"\"off-1\"", "not attached"}},
      {"no drone at all", Target(), {}, {"no drone"}},
      {"only disconnected drones", Target(), {{"x", {}, false, 0}, {"y", {}, false, 0}}, {"no drone"}},
      {"no drone has the label", Target({}, {{"region", "mars"}}), Fleet(), {"labels"}},
      {"label only on a disconnected drone", Target({}, {{"region", "eu"}}), {{"off", {{"region", "eu"}}, false, 0}},
       {"labels"}},
      {"named drones lack the label", Target({"us-1"}, {{"region", "eu"}}), Fleet(), {"labels"}},
      {"label key present, value differs", Target({}, {{"disk", "nvme"}}), Fleet(), {"labels"}},
      {"count larger than matching", Target({}, {{"region", "eu"}}, 4), Fleet(), {"count", "4", "3"}},
      {"count larger than fleet", Target({}, {}, 6), Fleet(), {"count", "6", "5"}},
      {"count larger than named (duplicates count once)", Target({"eu-1", "eu-1"}, {}, 2), Fleet(),
       {"count", "2", "1"}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    auto got = ChooseTargets(r.target, r.drones);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kFailedPrecondition);
    for (const auto& part : r.message_has) {
      INFO("message: " << got.status().message());
      CHECK(got.status().message().find(part) != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace skyport::hub
