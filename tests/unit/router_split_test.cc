#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/ids.h"
#include "contract/split.h"

namespace skyport::router {
namespace {

// The commit owning `pos` in a valid layout ("" if none).
std::string Owner(const std::vector<Slice>& layout, uint32_t pos) {
  for (const Slice& s : layout)
    if (s.ge <= pos && pos < s.lt) return s.commit;
  return "";
}

std::vector<std::string> UserIds(size_t n, uint64_t seed = 7) {
  FakeRandom random(seed);
  std::vector<std::string> ids;
  ids.reserve(n);
  for (size_t i = 0; i < n; ++i) ids.push_back(NewHexId(random));
  return ids;
}

std::vector<Slice> RebalanceOk(const std::vector<Slice>& old, const std::map<std::string, uint32_t>& weights) {
  auto r = Rebalance(old, weights);
  REQUIRE(r.ok());
  CHECK(ValidateLayout(*r).ok());
  return *r;
}

TEST_CASE("LayoutFresh: contiguous, in the order given, sizes sum to kSliceUnits", "[router][split]") {
  auto thirds = LayoutFresh({{"c", 1}, {"a", 1}, {"b", 1}});
  CHECK(thirds == std::vector<Slice>{{"c", 0, 333'334}, {"a", 333'334, 666'667}, {"b", 666'667, 1'000'000}});

  CHECK(LayoutFresh({{"a", 90}, {"b", 10}}) == std::vector<Slice>{{"a", 0, 900'000}, {"b", 900'000, 1'000'000}});
  CHECK(LayoutFresh({{"a", 0}, {"b", 7}}) == std::vector<Slice>{{"b", 0, 1'000'000}});
  CHECK(LayoutFresh({}).empty());
  CHECK(LayoutFresh({{"a", 0}, {"b", 0}}).empty());

  // Awkward weights still cover everything exactly.
  std::vector<std::pair<std::string, uint32_t>> many;
  for (int i = 0; i < 7; ++i) many.emplace_back(fmt::format("c{}", i), 1'000'000 - i * 3);
  auto layout = LayoutFresh(many);
  CHECK(ValidateLayout(layout).ok());
  CHECK(layout.size() == 7);
  uint64_t sum = 0;
  for (const auto& [c, units] : LayoutShares(layout)) sum += units;
  CHECK(sum == kSliceUnits);
}

TEST_CASE("Rebalance 90/10 -> 80/20 moves exactly 10% of positions, only from A to B", "[router][split]") {
  auto old = LayoutFresh({{"a", 90}, {"b", 10}});
  auto now = RebalanceOk(old, {{"a", 80}, {"b", 20}});
  CHECK(now == std::vector<Slice>{{"a", 0, 800'000}, {"b", 800'000, 1'000'000}});
  CHECK(MovedFraction(old, now) == Approx(0.10));

  size_t moved = 0;
  const auto ids = UserIds(100'000);
  for (const std::string& id : ids) {
    uint32_t pos = UserPosition(id, "s1");
    std::string before = Owner(old, pos), after = Owner(now, pos);
    if (before == after) continue;
    ++moved;
    INFO(id);
    CHECK(before == "a");
    CHECK(after == "b");
  }
  CHECK(std::abs(static_cast<double>(moved) / ids.size() - 0.10) < 0.005);
}

TEST_CASE("Rebalance: three arms; only the shrinking arms' top positions move", "[router][split]") {
  auto old = LayoutFresh({{"a", 50}, {"b", 30}, {"c", 20}});
  auto now = RebalanceOk(old, {{"a", 20}, {"b", 30}, {"c", 50}});
  // a gives up [200000, 500000); c takes it; b stays where it was.
  CHECK(now == std::vector<Slice>{{"a", 0, 200'000}, {"c", 200'000, 500'000}, {"b", 500'000, 800'000},
                                  {"c", 800'000, 1'000'000}});
  CHECK(LayoutShares(now) == std::map<std::string, uint32_t>{{"a", 200'000}, {"b", 300'000}, {"c", 500'000}});
  CHECK(MovedFraction(old, now) == Approx(0.30));

  // Two growing arms fill the freed range in commit order, lowest first.
  auto two_grow = RebalanceOk(old, {{"a", 10}, {"b", 40}, {"c", 50}});
  CHECK(two_grow == std::vector<Slice>{{"a", 0, 100'000}, {"b", 100'000, 200'000}, {"c", 200'000, 500'000},
                                       {"b", 500'000, 800'000}, {"c", 800'000, 1'000'000}});
  CHECK(MovedFraction(old, two_grow) == Approx(0.40));

  // Same weights: nothing moves.
  CHECK(RebalanceOk(now, {{"a", 2}, {"b", 3}, {"c", 5}}) == now);
}

TEST_CASE("Rebalance: an arm removed gives everything to the others", "[router][split]") {
  auto old = LayoutFresh({{"a", 1}, {"b", 1}, {"c", 1}});  // 333334 / 333333 / 333333
  auto now = RebalanceOk(old, {{"a", 1}, {"c", 1}});
  CHECK(LayoutShares(now) == std::map<std::string, uint32_t>{{"a", 500'000}, {"c", 500'000}});
  CHECK(MovedFraction(old, now) == Approx(333'333 / 1e6));
  // Nobody on a or c moved.
  for (const Slice& s : old)
    if (s.commit != "b") {
      CHECK(Owner(now, s.ge) == s.commit);
      CHECK(Owner(now, s.lt - 1) == s.commit);
    }
  // Weight 0 is the same as absent.
  CHECK(RebalanceOk(old, {{"a", 1}, {"b", 0}, {"c", 1}}) == now);
}

TEST_CASE("Rebalance: a new arm takes the freed ranges", "[router][split]") {
  auto old = LayoutFresh({{"a", 50}, {"b", 50}});
  auto now = RebalanceOk(old, {{"a", 40}, {"b", 40}, {"c", 20}});
  CHECK(now == std::vector<Slice>{{"a", 0, 400'000}, {"c", 400'000, 500'000}, {"b", 500'000, 900'000},
                                  {"c", 900'000, 1'000'000}});
  CHECK(MovedFraction(old, now) == Approx(0.20));
  // Adjacent freed ranges given to one arm are merged.
  auto merged = RebalanceOk(LayoutFresh({{"a", 50}, {"b", 50}}), {{"b", 1}, {"c", 1}});
  CHECK(merged == std::vector<Slice>{{"c", 0, 500'000}, {"b", 500'000, 1'000'000}});
}

TEST_CASE("Rebalance: all zero or no weights gives an empty layout; empty old gives LayoutFresh",
          "[router][split]") {
  auto old = LayoutFresh({{"a", 1}, {"b", 1}});
  CHECK(RebalanceOk(old, {{"a", 0}, {"b", 0}}).empty());
  CHECK(RebalanceOk(old, {}).empty());
  CHECK(RebalanceOk({}, {{"b", 1}, {"a", 3}}) == LayoutFresh({{"a", 3}, {"b", 1}}));
  CHECK(RebalanceOk({}, {}).empty());
}

TEST_CASE("Rebalance and ValidateLayout reject invalid layouts", "[router][split]") {
  struct Row {
    const char* what;
    std::vector<Slice> layout;
    const char* message;
  };
  const Row rows[] = {
      {"gap", {{"a", 0, 10}, {"b", 11, 1'000'000}}, "slices[1]: starts at 11, expected 10 (where slices[0] ends)"},
      {"overlap", {{"a", 0, 10}, {"b", 5, 1'000'000}}, "slices[1]: starts at 5, expected 10 (where slices[0] ends)"},
      {"short", {{"a", 0, 10}, {"b", 10, 999'999}}, "slices: end at 999999, expected 1000000"},
      {"not from 0", {{"a", 1, 1'000'000}}, "slices[0]: starts at 1, expected 0"},
      {"unsorted", {{"b", 10, 1'000'000}, {"a", 0, 10}}, "slices[0]: starts at 10, expected 0"},
      {"empty slice", {{"a", 0, 0}, {"b", 0, 1'000'000}}, "slices[0]: [0, 0) is empty or goes past 1000000"},
      {"too far", {{"a", 0, 1'000'001}}, "slices[0]: [0, 1000001) is empty or goes past 1000000"},
      {"no commit", {{"", 0, 1'000'000}}, "slices[0]: commit is empty"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    Status s = ValidateLayout(r.layout);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == r.message);
    auto rb = Rebalance(r.layout, {{"a", 1}});
    REQUIRE_FALSE(rb.ok());
    CHECK(rb.status().message() == std::string("old layout: ") + r.message);
  }
  CHECK(ValidateLayout({}).ok());
  CHECK(ValidateLayout({{"a", 0, 1'000'000}}).ok());
}

TEST_CASE("MovedFraction", "[router][split]") {
  auto ab = LayoutFresh({{"a", 1}, {"b", 1}});
  CHECK(MovedFraction(ab, ab) == 0.0);
  CHECK(MovedFraction({}, {}) == 0.0);
  CHECK(MovedFraction({}, ab) == 1.0);
  CHECK(MovedFraction(ab, {}) == 1.0);
  CHECK(MovedFraction(ab, LayoutFresh({{"b", 1}, {"a", 1}})) == 1.0);
  CHECK(MovedFraction(ab, {{"a", 0, 250'000}, {"b", 250'000, 1'000'000}}) == Approx(0.25));
  CHECK(MovedFraction({{"a", 0, 1'000'000}}, {{"b", 0, 1}, {"a", 1, 999'999}, {"b", 999'999, 1'000'000}}) ==
        Approx(2e-6));
}

TEST_CASE("UserPosition: 90/10 traffic within 1 point; uniform over 10 buckets", "[router][split]") {
  auto layout = LayoutFresh({{"a", 90}, {"b", 10}});
  const auto ids = UserIds(100'000, 11);
  size_t on_b = 0;
  std::vector<double> buckets(10, 0);
  for (const std::string& id : ids) {
    uint32_t pos = UserPosition(id, "default");
    REQUIRE(pos < kSliceUnits);
    if (Owner(layout, pos) == "b") ++on_b;
    buckets[pos / 100'000] += 1;
  }
  CHECK(std::abs(static_cast<double>(on_b) / ids.size() - 0.10) < 0.01);
  double chi2 = 0;
  const double expected = ids.size() / 10.0;
  for (double n : buckets) chi2 += (n - expected) * (n - expected) / expected;
  CHECK(chi2 < 27.9);  // 9 degrees of freedom, p = 0.001

  // Sequential-looking ids (not random hex) spread as well.
  std::vector<double> seq(10, 0);
  for (int i = 0; i < 100'000; ++i) seq[UserPosition(fmt::format("{:032x}", i), "s") / 100'000] += 1;
  double chi2_seq = 0;
  for (double n : seq) chi2_seq += (n - expected) * (n - expected) / expected;
  CHECK(chi2_seq < 27.9);
}

TEST_CASE("UserPosition: a new split id re-deals about half of a 50/50 split", "[router][split]") {
  auto layout = LayoutFresh({{"a", 1}, {"b", 1}});
  const auto ids = UserIds(100'000, 3);
  size_t changed = 0;
  for (const std::string& id : ids)
    if (Owner(layout, UserPosition(id, "test-1")) != Owner(layout, UserPosition(id, "test-2"))) ++changed;
  CHECK(std::abs(static_cast<double>(changed) / ids.size() - 0.5) < 0.02);
}

TEST_CASE("UserPosition: golden values (the hash is frozen: never change these)", "[router][split]") {
  // Cross-checked with an independent implementation of the documented
  // algorithm (Python: FNV-1a 64, fmix64, (h * 10**6) >> 64).
  CHECK(UserPosition("", "") == 212418u);
  CHECK(UserPosition("00000000000000000000000000000000", "default") == 325233u);
  CHECK(UserPosition("0123456789abcdef0123456789abcdef", "default") == 122851u);
  CHECK(UserPosition("0123456789abcdef0123456789abcdef", "s-1a2b3c4d") == 878988u);
  CHECK(UserPosition("ffffffffffffffffffffffffffffffff", "test-1.a_b") == 63434u);
  // The separator keeps (user, split) pairs apart that concatenate alike.
  CHECK(UserPosition("ab", "c") != UserPosition("b", "ca"));
}

TEST_CASE("ParseUserCookie", "[router][split]") {
  const std::string user = "0123456789abcdef0123456789abcdef";
  const std::string value = user + ".s-1a2b3c4d";  // the result views into it
  auto ok = ParseUserCookie(value);
  REQUIRE(ok);
  CHECK(ok->user_id == user);
  CHECK(ok->split_id == "s-1a2b3c4d");
  const std::string dotted_value = user + ".test-1.a_b";
  auto dotted = ParseUserCookie(dotted_value);
  REQUIRE(dotted);
  CHECK(dotted->split_id == "test-1.a_b");

  const std::string bad[] = {
      user,                                        // missing dot
      user + ".",                                  // empty split id
      ".default",                                  // empty user id
      "0123456789ABCDEF0123456789abcdef.default",  // upper case
      "0123456789abcdef0123456789abcde.default",   // 31 chars
      "0123456789abcdef0123456789abcdef0.default", // 33 chars
      "0123456789abcdeg0123456789abcdef.default",  // not hex
      user + ".bad split",                         // space
      user + ".a;b",                               // ';'
      user + "." + std::string(65, 's'),           // too long
      "",
  };
  for (const std::string& b : bad) {
    INFO(b);
    CHECK_FALSE(ParseUserCookie(b));
  }
  CHECK(ParseUserCookie(user + "." + std::string(64, 's')));
  CHECK(ValidSplitId("A-z_0.9"));
  CHECK_FALSE(ValidSplitId(""));
  CHECK(ValidUserId(user));
  CHECK_FALSE(ValidUserId(""));
}

}  // namespace
}  // namespace skyport::router
