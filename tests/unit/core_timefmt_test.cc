#include <catch2/catch.hpp>

#include <string>

#include "core/timefmt.h"

namespace skyport {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

TEST_CASE("ParseDurationMs reads unit parts in descending order", "[core][timefmt]") {
  struct Case {
    const char* text;
    int64_t ms;
  };
  const Case cases[] = {
      {"0", 0},
      {"500ms", 500},
      {"45s", 45'000},
      {"10m", 10 * kMin},
      {"1h30m", 90 * kMin},
      {"2d", 2 * kDay},
      {"0s", 0},
      {"1h2m3s500ms", kHour + 2 * kMin + 3'000 + 500},
      {"1d1ms", kDay + 1},
      {"90m", 90 * kMin},
      {"36500d", 36500 * kDay},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = ParseDurationMs(c.text);
    REQUIRE(r.ok());
    CHECK(*r == c.ms);
  }
}

TEST_CASE("ParseDurationMs refuses everything else, naming the text", "[core][timefmt]") {
  for (const char* text : {"", "-5m", "1.5h", "1h 30m", " 1h", "10", "m", "1x", "30m1h", "1m1m", "1s1m", "1ms1s",
                           "5mss", "1h30", "99999999999999999999d", "40000d", "1e3ms", "+1s"}) {
    INFO(text);
    auto r = ParseDurationMs(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains(std::string("\"") + text + "\""));
  }
}

TEST_CASE("FormatDurationMs writes the largest units first", "[core][timefmt]") {
  CHECK(FormatDurationMs(0) == "0s");
  CHECK(FormatDurationMs(350) == "350ms");
  CHECK(FormatDurationMs(4 * kMin + 12'000) == "4m12s");
  CHECK(FormatDurationMs(kHour + 5'000) == "1h0m5s");
  CHECK(FormatDurationMs(kHour) == "1h");
  CHECK(FormatDurationMs(10 * kMin) == "10m");
  CHECK(FormatDurationMs(90 * kMin) == "1h30m");
  CHECK(FormatDurationMs(1'500) == "1s");  // milliseconds only below a second
  CHECK(FormatDurationMs(kDay + 1'000) == "1d0h0m1s");
  CHECK(FormatDurationMs(2 * kDay + 3 * kHour) == "2d3h");
  CHECK(FormatDurationMs(-90'000) == "-1m30s");
  CHECK(FormatDurationMs(-5) == "-5ms");
  for (int64_t ms : {int64_t{1}, int64_t{45'000}, 90 * kMin, 3 * kDay + 7'000}) {
    auto back = ParseDurationMs(FormatDurationMs(ms));
    REQUIRE(back.ok());
    CHECK(*back == ms);
  }
}

TEST_CASE("ParseRfc3339Ms reads date-times with offsets", "[core][timefmt]") {
  struct Case {
    const char* text;
    int64_t ms;
  };
  const Case cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2026-12-01T00:00:00Z", 1796083200000},
      {"2026-12-01T01:30:00+01:30", 1796083200000},
      {"2026-11-30T20:00:00-04:00", 1796083200000},
      {"2026-12-01t00:00:00z", 1796083200000},
      {"2026-12-01T00:00:00.250Z", 1796083200250},
      {"2026-12-01T00:00:00.2Z", 1796083200200},
      {"2026-12-01T00:00:00.123456789Z", 1796083200123},
      {"2024-02-29T12:00:00Z", 1709208000000},
      {"2000-02-29T00:00:00Z", 951782400000},
      {"1969-12-31T23:59:59.500Z", -500},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = ParseRfc3339Ms(c.text);
    REQUIRE(r.ok());
    CHECK(*r == c.ms);
  }
}

TEST_CASE("ParseRfc3339Ms refuses what is not RFC 3339", "[core][timefmt]") {
  for (const char* text : {"",
                           "2026-12-01",
                           "2026-12-01T00:00:00",
                           "2026-12-01 00:00:00Z",
                           "2026-13-01T00:00:00Z",
                           "2026-00-01T00:00:00Z",
                           "2026-02-29T00:00:00Z",
                           "1900-02-29T00:00:00Z",
                           "2026-04-31T00:00:00Z",
                           "2026-12-00T00:00:00Z",
                           "2026-12-01T24:00:00Z",
                           "2026-12-01T00:60:00Z",
                           "2026-12-01T00:00:60Z",
                           "2026-12-01T00:00:00.Z",
                           "2026-12-01T00:00:00+0100",
                           "2026-12-01T00:00:00+24:00",
                           "2026-12-01T00:00:00Zx",
                           "26-12-01T00:00:00Z",
                           "2026-1-01T00:00:00Z",
                           "tomorrow"}) {
    INFO(text);
    auto r = ParseRfc3339Ms(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("FormatRfc3339 writes UTC, with milliseconds only when needed", "[core][timefmt]") {
  CHECK(FormatRfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatRfc3339(1796083200000) == "2026-12-01T00:00:00Z");
  CHECK(FormatRfc3339(1796083200250) == "2026-12-01T00:00:00.250Z");
  CHECK(FormatRfc3339(1709208000000) == "2024-02-29T12:00:00Z");
  CHECK(FormatRfc3339(-500) == "1969-12-31T23:59:59.500Z");
  for (int64_t ms : {int64_t{0}, int64_t{1796083200007}, int64_t{951782400000}, int64_t{-86'400'001}}) {
    auto back = ParseRfc3339Ms(FormatRfc3339(ms));
    REQUIRE(back.ok());
    CHECK(*back == ms);
  }
}

}  // namespace
}  // namespace skyport
