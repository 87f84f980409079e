#include <catch2/catch.hpp>

#include <string>

#include "core/utf8.h"

namespace skyport {
namespace {

TEST_CASE("CutUtf8: at most max bytes, never inside a character", "[core]") {
  CHECK(CutUtf8("abc", 10) == "abc");
  CHECK(CutUtf8("abcdef", 3) == "abc");
  const std::string e = "\xc3\xa9";  // é: 2 bytes
  CHECK(CutUtf8("a" + e, 2) == "a");             // would end inside é
  CHECK(CutUtf8("a" + e, 3) == "a" + e);
  const std::string bar = "\xe2\x94\x81";  // ━: 3 bytes
  CHECK(CutUtf8(bar + bar, 4) == bar);
  CHECK(CutUtf8(bar + bar, 5) == bar);
  CHECK(CutUtf8(bar, 2).empty());
  CHECK(CutUtf8("", 0).empty());
}

}  // namespace
}  // namespace skyport
