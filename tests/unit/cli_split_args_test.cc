#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cli/split_args.h"

namespace skyport::cli {
namespace {

const std::string kA = "aaaa111122223333444455556666777788889999";
const std::string kA2 = "aaaa999922223333444455556666777788889999";
const std::string kB = "bbbb111122223333444455556666777788889999";

TEST_CASE("ParseWeightArgs: COMMIT=WEIGHT, case folded", "[cli][split]") {
  auto r = ParseWeightArgs({"AAAA1=90", "bbbb=10", "cccc=0", "dddd=1000000"});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 4);
  CHECK((*r)[0].commit == "aaaa1");
  CHECK((*r)[0].weight == 90);
  CHECK((*r)[1].commit == "bbbb");
  CHECK((*r)[2].weight == 0);
  CHECK((*r)[3].weight == 1'000'000);
}

TEST_CASE("ParseWeightArgs: usage errors, every one named", "[cli][split]") {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{}, "expected COMMIT=WEIGHT arguments, e.g. 3f2a9c1b=90 77e0d4aa=10"},
      {{"abcd"}, "\"abcd\": expected COMMIT=WEIGHT"},
      {{"abc=1"}, "\"abc=1\": commit: \"abc\" must be a commit hash: 4 to 64 lowercase hex characters"},
      {{"xyzw=1"}, "\"xyzw=1\": commit: \"xyzw\" must be a commit hash: 4 to 64 lowercase hex characters"},
      {{"=1"}, "\"=1\": commit: \"\" must be a commit hash: 4 to 64 lowercase hex characters"},
      {{"abcd="}, "\"abcd=\": weight must be an integer 0..1000000"},
      {{"abcd=-1"}, "\"abcd=-1\": weight must be an integer 0..1000000"},
      {{"abcd=1.5"}, "\"abcd=1.5\": weight must be an integer 0..1000000"},
      {{"abcd=1000001"}, "\"abcd=1000001\": weight must be an integer 0..1000000"},
      {{"abcd=99999999999"}, "\"abcd=99999999999\": weight must be an integer 0..1000000"},
      {{"abcd=1=2"}, "\"abcd=1=2\": weight must be an integer 0..1000000"},
      {{"abcd=0", "beef=0"}, "every weight is 0: at least one must be > 0"},
      {{"abcd=1", "ABCD=2"}, "\"ABCD=2\": commit abcd is already given as abcd"},
      {{"abcd=1", "abcdef=2"}, "\"abcdef=2\": commit abcdef is already given as abcd"},
      {{"abcd", "abc=1", "beef=x"},
       "\"abcd\": expected COMMIT=WEIGHT; "
       "\"abc=1\": commit: \"abc\" must be a commit hash: 4 to 64 lowercase hex characters; "
       "\"beef=x\": weight must be an integer 0..1000000"},
  };
  for (const Case& c : cases) {
    INFO(c.message);
    auto r = ParseWeightArgs(c.args);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() == c.message);
  }
}

TEST_CASE("ResolveRunningCommit: one match, none, several", "[cli][split]") {
  const std::vector<std::string> running = {kA, kA, kA2, kB};  // repeats: one per endpoint
  CHECK(*ResolveRunningCommit("web", "aaaa1", running) == kA);
  CHECK(*ResolveRunningCommit("web", kB, running) == kB);
  auto none = ResolveRunningCommit("web", "cccc", running);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().code() == Code::kFailedPrecondition);
  CHECK(none.status().message() == "commit cccc of web is not running (deploy it first)");
  auto two = ResolveRunningCommit("web", "aaaa", running);
  REQUIRE_FALSE(two.ok());
  CHECK(two.status().message() == "commit aaaa of web is ambiguous: it matches " + kA + ", " + kA2 +
                                      " (give more characters)");
  CHECK_FALSE(ResolveRunningCommit("web", "aaaa", {}).ok());
}

TEST_CASE("ResolveWeights: full commits, every problem named", "[cli][split]") {
  const std::vector<std::string> running = {kA, kA2, kB};
  auto ok = ResolveWeights("web", {{"aaaa1", 80}, {"bbbb", 20}, {"aaaa9", 0}}, running);
  REQUIRE(ok.ok());
  CHECK(*ok == std::map<std::string, uint32_t>{{kA, 80}, {kA2, 0}, {kB, 20}});

  auto bad = ResolveWeights("web", {{"aaaa", 1}, {"cccc", 1}, {"bbbb", 1}, {"bbbb1", 2}}, running);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kFailedPrecondition);
  CHECK(bad.status().message() == "commit aaaa of web is ambiguous: it matches " + kA + ", " + kA2 +
                                      " (give more characters); "
                                      "commit cccc of web is not running (deploy it first); "
                                      "bbbb and bbbb1 both name commit " + kB);
}

TEST_CASE("ReclaimNewTestWord: --new-test's word may be a COMMIT=WEIGHT", "[cli][split]") {
  std::string id = "abcd=1";
  std::vector<std::string> weights = {"beef=2"};
  CHECK(ReclaimNewTestWord(id, weights).ok());
  CHECK(id.empty());
  CHECK(weights == std::vector<std::string>{"abcd=1", "beef=2"});

  id = "exp-2.b";
  weights = {"abcd=1"};
  CHECK(ReclaimNewTestWord(id, weights).ok());
  CHECK(id == "exp-2.b");
  CHECK(weights.size() == 1);

  id = "";
  CHECK(ReclaimNewTestWord(id, weights).ok());

  id = "a b";
  Status s = ReclaimNewTestWord(id, weights);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message() == "--new-test: \"a b\" must be a split id: 1..64 of [A-Za-z0-9._-]");
  id = std::string(65, 's');
  CHECK_FALSE(ReclaimNewTestWord(id, weights).ok());
}

TEST_CASE("SplitIdFrom", "[cli][split]") {
  CHECK(SplitIdFrom("0123456789abcdef0123456789abcdef") == "s-01234567");
  CHECK(SplitIdFrom("abc") == "s-abc");
}

}  // namespace
}  // namespace skyport::cli
