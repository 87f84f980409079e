#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "core/ids.h"
#include "core/names.h"

namespace skyport {
namespace {

// Random whose values the test chooses.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<uint64_t> v) : v_(std::move(v)) {}
  uint64_t Next() override { return v_.at(i_++); }

 private:
  std::vector<uint64_t> v_;
  size_t i_ = 0;
};

TEST_CASE("NewHexId: 32 lowercase hex characters from two draws, zero-padded", "[core][ids]") {
  struct Row {
    uint64_t a, b;
    const char* want;
  };
  const Row rows[] = {
      {0, 0, "00000000000000000000000000000000"},
      {1, 2, "00000000000000010000000000000002"},
      {0xdeadbeefULL, 0xffffffffffffffffULL, "00000000deadbeefffffffffffffffff"},
      {0xABCDEF0123456789ULL, 0x10ULL, "abcdef01234567890000000000000010"},
  };
  for (const Row& r : rows) {
    ScriptedRandom rnd({r.a, r.b});
    CHECK(NewHexId(rnd) == r.want);
  }
}

TEST_CASE("NewHexId: FakeRandom is deterministic per seed", "[core][ids]") {
  FakeRandom a(7), b(7), c(8);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string x = NewHexId(a);
    CHECK(x.size() == 32);
    CHECK(IsHex(x));
    CHECK(x == NewHexId(b));
    seen.insert(x);
    seen.insert(NewHexId(c));
  }
  CHECK(seen.size() == 200);
}

TEST_CASE("FakeRandom: same seed, same sequence; Uniform01 in [0,1)", "[core][ids]") {
  FakeRandom a, b;  // default seed 42
  for (int i = 0; i < 1000; ++i) {
    double u = a.Uniform01();
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
    CHECK(u == b.Uniform01());
  }
  ScriptedRandom edges({0, ~uint64_t{0}, uint64_t{1} << 63});
  CHECK(edges.Uniform01() == 0.0);
  CHECK(edges.Uniform01() < 1.0);
  CHECK(edges.Uniform01() == 0.5);
}

TEST_CASE("SecureHexId: 32 hex characters, distinct", "[core][ids]") {
  std::string a = SecureHexId(), b = SecureHexId();
  CHECK(a.size() == 32);
  CHECK(IsHex(a));
  CHECK(a != b);
}

}  // namespace
}  // namespace skyport
