#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "drone/log_file.h"
#include "tests/unit/test_util.h"

using namespace skyport;
using namespace skyport::drone;
namespace fs = std::filesystem;
using skyport::testing::Slurp;
using skyport::testing::TempDir;


TEST_CASE("FormatLogLine", "[drone]") {
  CHECK(FormatLogLine(1'780'000'000'123, "stdout", "hello world") ==
        "2026-05-28T20:26:40.123Z stdout hello world\n");
  CHECK(FormatLogLine(0, "stderr", "") == "1970-01-01T00:00:00.000Z stderr \n");
}

TEST_CASE("LineSplitter", "[drone]") {
  LineSplitter s(8);
  std::vector<std::string> out;
  s.Feed("ab", out);
  CHECK(out.empty());
  s.Feed("c\nde\n\nf", out);
  CHECK(out == std::vector<std::string>{"abc", "de", ""});
  out.clear();
  s.Feed("0123456789\n", out);  // "f" + 10 bytes: cut at 8
  CHECK(out == std::vector<std::string>{"f0123456", "789"});
  out.clear();
  s.Feed("tail", out);
  s.Flush(out);
  CHECK(out == std::vector<std::string>{"tail"});
  out.clear();
  s.Flush(out);
  CHECK(out.empty());
}

TEST_CASE("LogFile rotates at the size limit and keeps N files", "[drone]") {
  TempDir dir;
  const fs::path log = fs::path(dir.path()) / "app" / "abc" / "web.0.log";
  auto f = LogFile::Open(log.string(), 10, 2);
  REQUIRE(f.ok());
  REQUIRE((*f)->Append("12345\n").ok());  // 6 bytes
  REQUIRE((*f)->Append("abcd\n").ok());   // 11 > 10: rotate first
  CHECK(Slurp(log) == "abcd\n");
  CHECK(Slurp(log.string() + ".1") == "12345\n");
  REQUIRE((*f)->Append("xyzw\n").ok());  // 10: fits
  CHECK(Slurp(log) == "abcd\nxyzw\n");
  REQUIRE((*f)->Append("3rd\n").ok());
  REQUIRE((*f)->Append("a line longer than ten\n").ok());  // alone in its file
  CHECK(Slurp(log) == "a line longer than ten\n");
  CHECK(Slurp(log.string() + ".1") == "3rd\n");
  CHECK(Slurp(log.string() + ".2") == "abcd\nxyzw\n");
  CHECK_FALSE(fs::exists(log.string() + ".3"));  // keep = 2
  REQUIRE((*f)->Append("next\n").ok());
  CHECK(Slurp(log.string() + ".2") == "3rd\n");
  CHECK_FALSE(fs::exists(log.string() + ".3"));
}

TEST_CASE("LogFile appends to an existing file and counts its size", "[drone]") {
  TempDir dir;
  const fs::path log = fs::path(dir.path()) / "x.log";
  {
    auto f = LogFile::Open(log.string(), 100, 1);
    REQUIRE(f.ok());
    REQUIRE((*f)->Append("0123456789\n").ok());
  }
  auto f = LogFile::Open(log.string(), 15, 1);
  REQUIRE(f.ok());
  CHECK((*f)->size() == 11);
  REQUIRE((*f)->Append("abcde\n").ok());
  CHECK(Slurp(log) == "abcde\n");
  CHECK(Slurp(log.string() + ".1") == "0123456789\n");
}

TEST_CASE("LogFile with keep 0 just starts over", "[drone]") {
  TempDir dir;
  const fs::path log = fs::path(dir.path()) / "x.log";
  auto f = LogFile::Open(log.string(), 5, 0);
  REQUIRE(f.ok());
  REQUIRE((*f)->Append("1234\n").ok());
  REQUIRE((*f)->Append("abcd\n").ok());
  CHECK(Slurp(log) == "abcd\n");
  CHECK_FALSE(fs::exists(log.string() + ".1"));
}

TEST_CASE("TailRing keeps the newest lines", "[drone]") {
  TailRing<int> ring(3);
  for (int i = 1; i <= 5; ++i) ring.Push(i);
  CHECK(ring.size() == 3);
  CHECK(ring.Last(10) == std::vector<int>{3, 4, 5});
  CHECK(ring.Last(2) == std::vector<int>{4, 5});
  CHECK(ring.Last(0).empty());
  TailRing<int> none(0);
  none.Push(1);
  CHECK(none.size() == 0);
}
