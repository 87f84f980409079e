#include <catch2/catch.hpp>

#include "drone/rolling_plan.h"

using namespace skyport::drone;

namespace {

using Nums = std::vector<uint32_t>;
using Steps = std::vector<RollStep>;

LiveInstance Stale(uint32_t n) { return {n, false}; }
LiveInstance Current(uint32_t n) { return {n, true}; }

}  // namespace

TEST_CASE("rolling plan: a first deploy starts every instance at once", "[drone][rolling]") {
  RollPlan p = PlanRoll({}, 3);
  CHECK(p.start_now == Nums{0, 1, 2});
  CHECK(p.roll.empty());
  CHECK(p.keep.empty());
  CHECK(p.retire.empty());
  CHECK(PlanRoll({}, 0).start_now == Nums{0});  // 0 counts as 1
}

TEST_CASE("rolling plan: instances already current are kept, nothing else happens", "[drone][rolling]") {
  RollPlan p = PlanRoll({Current(0), Current(1)}, 2);
  CHECK(p.keep == Nums{0, 1});
  CHECK(p.start_now.empty());
  CHECK(p.roll.empty());
  CHECK(p.retire.empty());
}

TEST_CASE("rolling plan: a stale instance is replaced by one under a free number, then retired", "[drone][rolling]") {
  CHECK(PlanRoll({Stale(0)}, 1).roll == Steps{{1, 0}});
  // The next change goes back to 0: the numbers alternate, never grow.
  CHECK(PlanRoll({Stale(1)}, 1).roll == Steps{{0, 1}});
  RollPlan p = PlanRoll({Stale(0), Stale(1)}, 2);
  CHECK(p.roll == Steps{{2, 0}, {3, 1}});
  CHECK(p.start_now.empty());
  CHECK(p.retire.empty());
}

TEST_CASE("rolling plan: the numbers of failed instances (not live) are free", "[drone][rolling]") {
  // Instance 0 failed (not passed as live): the replacement of 1 takes 0.
  CHECK(PlanRoll({Stale(1)}, 1).roll == Steps{{0, 1}});
  // A role short of instances gets the missing ones at once.
  RollPlan p = PlanRoll({Current(1)}, 2);
  CHECK(p.keep == Nums{1});
  CHECK(p.start_now == Nums{0});
}

TEST_CASE("rolling plan: mixed current and stale, scale up and down", "[drone][rolling]") {
  // One current, one stale, two wanted: only the stale one rolls.
  RollPlan a = PlanRoll({Current(0), Stale(1)}, 2);
  CHECK(a.keep == Nums{0});
  CHECK(a.roll == Steps{{2, 1}});
  // More wanted than stale: the extra starts at once, the stale ones roll.
  RollPlan b = PlanRoll({Stale(0)}, 3);
  CHECK(b.roll == Steps{{1, 0}});
  CHECK(b.start_now == Nums{2, 3});
  // Fewer wanted than stale: the rest retire after the roll.
  RollPlan c = PlanRoll({Stale(0), Stale(1), Stale(2)}, 1);
  CHECK(c.roll == Steps{{3, 0}});
  CHECK(c.retire == Nums{1, 2});
  // Current instances beyond the count are kept (a deploy never scales down); stale ones go.
  RollPlan d = PlanRoll({Current(0), Current(1), Stale(2)}, 1);
  CHECK(d.keep == Nums{0, 1});
  CHECK(d.roll.empty());
  CHECK(d.retire == Nums{2});
}

TEST_CASE("rolling plan: which instances a deploy finds current", "[drone][rolling]") {
  const LaunchEnv v2{{{"A", "2"}}, 2};
  CHECK(IsCurrent(v2, LaunchEnv{{{"A", "2"}}, 2}));
  // Another env (a deploy's --env, a config change) or another version: stale.
  CHECK_FALSE(IsCurrent(v2, LaunchEnv{{{"A", "3"}}, 2}));
  CHECK_FALSE(IsCurrent(v2, LaunchEnv{{{"A", "2"}}, 3}));
  CHECK_FALSE(IsCurrent(v2, LaunchEnv{{}, 2}));
  // A deploy carrying an older config version than the instance runs (sent before a later
  // change that was rolled out first) leaves it alone.
  CHECK(IsCurrent(v2, LaunchEnv{{{"A", "1"}}, 1}));
  CHECK(IsCurrent(LaunchEnv{{}, 0}, LaunchEnv{{}, 0}));
}
