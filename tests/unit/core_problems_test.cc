#include <catch2/catch.hpp>

#include <string>

#include "core/problems.h"

namespace skyport {
namespace {

TEST_CASE("ClipEcho: short text kept, controls escaped, long text cut in the middle", "[core][problems]") {
  CHECK(ClipEcho("control: \"x\" is not an arm") == "control: \"x\" is not an arm");
  CHECK(ClipEcho("a\nb\x1b[31m\x7f") == "a\\x0ab\\x1b[31m\\x7f");
  CHECK(ClipEcho("a\nb", 10, false) == "a\nb");

  const std::string huge = "control: \"" + std::string(1 << 20, 'x') + "\" is not an arm";
  const std::string got = ClipEcho(huge);
  CHECK(got.size() < kMaxEchoBytes + 40);
  CHECK_THAT(got, Catch::StartsWith("control: \"xxx"));
  CHECK_THAT(got, Catch::EndsWith("xxx\" is not an arm"));
  CHECK_THAT(got, Catch::Contains("…[" + std::to_string(huge.size() - kMaxEchoBytes) + " bytes cut]…"));
}

TEST_CASE("Problems: every message clipped, at most kMaxProblems kept", "[core][problems]") {
  Problems p;
  for (int i = 0; i < 1000; ++i) p.Add("arms." + std::to_string(i), std::string(100'000, 'v'));
  Status s = p.ToStatus("spec: ");
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().size() < Problems::kMaxProblems * (kMaxEchoBytes + 50));
  CHECK_THAT(s.message(), Catch::StartsWith("spec: arms.0: vvv"));
  CHECK_THAT(s.message(), Catch::EndsWith("; … and " + std::to_string(1000 - Problems::kMaxProblems) +
                                          " more problems"));
  Problems few;
  few.Add("a: b");
  few.Add("c: d");
  CHECK(few.ToStatus().message() == "a: b; c: d");
}

}  // namespace
}  // namespace skyport
