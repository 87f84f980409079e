#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "router/instance_picker.h"

namespace skyport::router {
namespace {

// Picks with a fake arm: the instances' loads and the arm's cursor.
struct FakeArm {
  std::vector<InstanceLoad> loads;
  uint32_t cursor = 0;
  int cursor_calls = 0;

  int Pick(Balance balance, uint64_t tried = 0) {
    return PickInstance(
        balance, loads.size(), tried,
        [&]() -> uint32_t& {
          ++cursor_calls;
          return cursor;
        },
        [&](size_t i) { return loads[i]; });
  }
};

constexpr InstanceLoad kUp{false, 0};
constexpr InstanceLoad kOut{true, 0};  // ejected
InstanceLoad Busy(int n) { return {false, n}; }

TEST_CASE("PickInstance: table of arms, tried sets and cursors", "[router]") {
  struct Row {
    const char* what;
    Balance balance;
    std::vector<InstanceLoad> loads;
    uint32_t cursor;
    uint64_t tried;
    int want;
  };
  const auto rr = Balance::kRoundRobin;
  const auto lo = Balance::kLeastOutstanding;
  const std::vector<Row> rows = {
      {"rr: from the cursor", rr, {kUp, kUp, kUp}, 1, 0, 1},
      {"rr: the cursor wraps", rr, {kUp, kUp, kUp}, 5, 0, 2},
      {"rr: skips tried", rr, {kUp, kUp, kUp}, 0, 0b011, 2},
      {"rr: skips ejected", rr, {kOut, kUp, kUp}, 0, 0, 1},
      {"rr: all ejected: the first from the cursor", rr, {kOut, kOut, kOut}, 1, 0, 1},
      {"rr: ejected only when nothing else is left", rr, {kOut, kUp, kOut}, 2, 0b010, 2},
      {"rr: all tried", rr, {kUp, kUp}, 0, 0b11, -1},
      {"rr: no instances", rr, {}, 0, 0, -1},
      {"rr: ignores load", rr, {Busy(9), Busy(0)}, 0, 0, 0},
      {"lo: the fewest in flight", lo, {Busy(3), Busy(1), Busy(2)}, 0, 0, 1},
      {"lo: ties to the first from the cursor", lo, {Busy(1), Busy(1), Busy(1)}, 2, 0, 2},
      {"lo: not ejected beats less loaded", lo, {kOut, Busy(5), Busy(7)}, 0, 0, 1},
      {"lo: among ejected, the fewest", lo, {{true, 4}, {true, 2}, {true, 3}}, 0, 0, 1},
      {"lo: skips tried", lo, {Busy(0), Busy(5), Busy(9)}, 0, 0b001, 1},
      {"one instance: picked even ejected", rr, {kOut}, 7, 0, 0},
      {"one instance: tried", lo, {kUp}, 0, 1, -1},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    FakeArm arm{row.loads, row.cursor};
    CHECK(arm.Pick(row.balance, row.tried) == row.want);
    // The cursor moves once per pick, except for a lone instance.
    CHECK(arm.cursor == row.cursor + (row.loads.size() == 1 ? 0 : 1));
  }
}

TEST_CASE("PickInstance: round robin spreads successive requests", "[router]") {
  FakeArm arm{{kUp, kUp, kUp}};
  std::vector<int> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(arm.Pick(Balance::kRoundRobin));
  CHECK(picks == std::vector<int>{0, 1, 2, 0, 1, 2});
  arm.loads[1] = kOut;
  picks.clear();
  for (int i = 0; i < 3; ++i) picks.push_back(arm.Pick(Balance::kRoundRobin));
  CHECK(picks == std::vector<int>{0, 2, 2});  // the ejected one's turn goes to the next
}

TEST_CASE("PickInstance: a lone instance never touches the cursor", "[router]") {
  FakeArm arm{{kUp}};
  CHECK(arm.Pick(Balance::kRoundRobin) == 0);
  CHECK(arm.Pick(Balance::kLeastOutstanding) == 0);
  CHECK(arm.cursor_calls == 0);
}

TEST_CASE("PickInstance: instances past the 64th are not remembered as tried", "[router]") {
  std::vector<InstanceLoad> loads(70, kOut);
  loads[66] = kUp;
  FakeArm arm{loads, 66};
  CHECK(arm.Pick(Balance::kRoundRobin, ~uint64_t{0}) == 66);
  CHECK(TriedBit(63) == uint64_t{1} << 63);
  CHECK(TriedBit(64) == 0);
}

TEST_CASE("PickInstance: least outstanding looks at a bounded window that the cursor rotates", "[router]") {
  std::vector<InstanceLoad> loads(5000, Busy(3));
  loads[40] = Busy(0);  // outside the first window from cursor 0
  loads[10] = Busy(1);
  FakeArm arm{loads};
  int looked = 0;
  const int first = PickInstance(
      Balance::kLeastOutstanding, arm.loads.size(), 0, [&]() -> uint32_t& { return arm.cursor; },
      [&](size_t i) {
        ++looked;
        return arm.loads[i];
      });
  CHECK(first == 10);  // the least loaded of instances 0..15
  CHECK(looked == static_cast<int>(kLeastOutstandingWindow) + 1);
  // The window moves one step per pick: instance 40 is found within 40 picks.
  int picks_until_40 = 1;
  while (arm.Pick(Balance::kLeastOutstanding) != 40 && picks_until_40 < 1000) ++picks_until_40;
  CHECK(picks_until_40 == 40 - static_cast<int>(kLeastOutstandingWindow) + 1);
}

TEST_CASE("PickInstance: a pick scans at most kPickScanLimit instances", "[router]") {
  std::vector<InstanceLoad> loads(100000, kOut);
  loads[99999] = kUp;
  for (Balance b : {Balance::kRoundRobin, Balance::kLeastOutstanding}) {
    FakeArm arm{loads};
    int looked = 0;
    const int got = PickInstance(
        b, arm.loads.size(), 0, [&]() -> uint32_t& { return arm.cursor; },
        [&](size_t i) {
          ++looked;
          return arm.loads[i];
        });
    CHECK(looked == static_cast<int>(kPickScanLimit));
    CHECK(got == 0);  // every scanned one is ejected: the first from the cursor
    arm.cursor = 99999 - 10;
    CHECK(arm.Pick(b) == 99999);  // a later pick from further on finds the live one
  }
}

TEST_CASE("Eject: skipped until eject_ms has passed; a new ejection is reported once", "[router]") {
  int64_t until = 0;
  CHECK_FALSE(Ejected(until, 1000));
  CHECK(Eject(until, 1000, 2000));  // starts: the caller logs
  CHECK(until == 3000);
  CHECK(Ejected(until, 2999));
  CHECK_FALSE(Eject(until, 2500, 2000));  // extended while ejected: no log
  CHECK(until == 4500);
  CHECK_FALSE(Ejected(until, 4500));
  CHECK(Eject(until, 4500, 2000));
}

TEST_CASE("DecideRetry: replay only what cannot have been half done", "[router]") {
  struct Row {
    const char* what;
    bool connect_failure, response_started, idempotent, has_body, reused;
    bool retry, same_instance;
  };
  const std::vector<Row> rows = {
      {"connect failed: POST with a body too", true, false, false, true, false, true, false},
      {"connect failed on a reused connection: another instance", true, false, true, false, true, true, false},
      {"closed before the answer, GET, fresh connection", false, false, true, false, false, true, false},
      {"closed before the answer, GET, stale pooled connection", false, false, true, false, true, true, true},
      {"closed before the answer, POST", false, false, false, false, true, false, false},
      {"closed before the answer, PUT with a body", false, false, true, true, true, false, false},
      {"closed mid-answer", false, true, true, false, true, false, false},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    RetryDecision d = DecideRetry(row.connect_failure, row.response_started, row.idempotent, row.has_body, row.reused);
    CHECK(d.retry == row.retry);
    CHECK(d.same_instance == row.same_instance);
  }
}

}  // namespace
}  // namespace skyport::router
