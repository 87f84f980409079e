#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/json_fields.h"

namespace skyport {
namespace {

std::string Check(const char* doc, std::string_view path, std::initializer_list<std::string_view> known) {
  Problems p;
  CheckKnownFields(nlohmann::json::parse(doc), path, known, p);
  Status s = p.ToStatus();
  return s.ok() ? "" : s.message();
}

TEST_CASE("CheckKnownFields names each unknown key with its path and the known names", "[core]") {
  struct Case {
    const char* doc;
    const char* path;
    const char* want;
  };
  const Case cases[] = {
      {R"({"a": 1, "b": 2})", "", ""},
      {R"({})", "x", ""},
      {R"({"c": 1})", "", "c: unknown field (known: a, b)"},
      {R"({"c": 1})", "steps[2]", "steps[2].c: unknown field (known: a, b)"},
      {R"({"a": 1, "d": 1, "c": 2})", "f", "f.c: unknown field (known: a, b); f.d: unknown field (known: a, b)"},
      {R"({"c\nd": 1})", "", "c\\x0ad: unknown field (known: a, b)"},  // echoes are escaped
      {R"([1, 2])", "", ""},                                              // not an object: the caller says so
      {R"("a")", "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    CHECK(Check(c.doc, c.path, {"a", "b"}) == c.want);
  }
}

TEST_CASE("CheckKnownFields accepts aliases without listing them", "[core]") {
  const std::string_view known[] = {"split_id", "allow_override"};
  const std::string_view aliases[] = {"splitId", "allowOverride"};
  Problems p;
  CheckKnownFields(nlohmann::json::parse(R"({"splitId": "x", "split_id": "y", "allowoverride": 1})"), "route", known, p,
                   aliases);
  CHECK(p.ToStatus().message() == "route.allowoverride: unknown field (known: split_id, allow_override)");
}

}  // namespace
}  // namespace skyport
