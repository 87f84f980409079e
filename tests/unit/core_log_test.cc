#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "core/log.h"

namespace skyport::log {
namespace {

constexpr int64_t kWall = 1'780'000'000'123;  // 2026-05-28T20:26:40.123Z
const std::string kTs = "2026-05-28T20:26:40.123Z";

TEST_CASE("Render text: timestamp, padded level, component, message", "[core][log]") {
  struct Row {
    Level level;
    std::string want;
  };
  const Row rows[] = {
      {Level::kDebug, kTs + " debug registry: hello"},
      {Level::kInfo, kTs + " info  registry: hello"},
      {Level::kWarn, kTs + " warn  registry: hello"},
      {Level::kError, kTs + " error registry: hello"},
  };
  for (const Row& r : rows) CHECK(Render(Format::kText, kWall, "registry", r.level, "hello", {}) == r.want);
  CHECK(Render(Format::kText, 0, "c", Level::kInfo, "m", {}) == "1970-01-01T00:00:00.000Z info  c: m");
  CHECK(Render(Format::kText, 999, "c", Level::kInfo, "m", {}) == "1970-01-01T00:00:00.999Z info  c: m");
}

TEST_CASE("Render text: fields of each type", "[core][log]") {
  std::string line = Render(Format::kText, kWall, "registry", Level::kInfo, "started",
                            {{"port", 8080}, {"ok", true}, {"off", false}, {"ratio", 0.5}, {"name", "web"},
                             {"neg", -3}, {"big", int64_t{1} << 40}, {"u", uint32_t{7}}});
  CHECK(line == kTs + " info  registry: started port=8080 ok=true off=false ratio=0.5 name=web neg=-3 big=1099511627776 u=7");
}

TEST_CASE("Render text: unsigned 64-bit values are not wrapped to negative", "[core][log]") {
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  CHECK(Render(Format::kText, kWall, "c", Level::kInfo, "m", {{"id", big}}) ==
        kTs + " info  c: m id=18446744073709551615");
  CHECK(Render(Format::kJson, kWall, "c", Level::kInfo, "m", {{"id", big}}) ==
        R"({"component":"c","id":18446744073709551615,"level":"info","msg":"m","ts":")" + kTs + R"("})");
}

TEST_CASE("Render text: string values are quoted and escaped when needed", "[core][log]") {
  struct Row {
    std::string value;
    std::string rendered;
  };
  const Row rows[] = {
      {"plain", "plain"},
      {"with-dash.and:colon", "with-dash.and:colon"},
      {"", R"("")"},
      {"two words", R"("two words")"},
      {"a=b", R"("a=b")"},
      {R"(say "hi")", R"("say \"hi\"")"},
      {"line\nbreak", R"("line\nbreak")"},
      {"tab\there", R"("tab\there")"},
      {"cr\rhere", R"("cr\rhere")"},
      {"esc\x1b[31m", R"("esc\u001b[31m")"},
      {"back\\slash and space", R"("back\\slash and space")"},
  };
  for (const Row& r : rows) {
    INFO("value: " << r.value);
    std::string line = Render(Format::kText, kWall, "c", Level::kWarn, "m", {{"v", r.value}});
    CHECK(line == kTs + " warn  c: m v=" + r.rendered);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
  }
}

TEST_CASE("Render json: one object, keys sorted, values typed, strings escaped", "[core][log]") {
  std::string line = Render(Format::kJson, kWall, "registry", Level::kError, "commit \"failed\"",
                            {{"port", 8080}, {"ok", true}, {"ratio", 0.25}, {"name", "a b\n"}});
  CHECK(line == R"({"component":"registry","level":"error","msg":"commit \"failed\"","name":"a b\n","ok":true,)"
                R"("port":8080,"ratio":0.25,"ts":")" + kTs + R"("})");
  CHECK(Render(Format::kJson, 0, "c", Level::kDebug, "m", {}) ==
        R"({"component":"c","level":"debug","msg":"m","ts":"1970-01-01T00:00:00.000Z"})");
}

TEST_CASE("Render json: invalid UTF-8 is replaced, not thrown", "[core][log]") {
  std::string line;
  REQUIRE_NOTHROW(line = Render(Format::kJson, 0, "c", Level::kInfo, "m", {{"bad", std::string("\xff")}}));
  // U+FFFD, written as UTF-8.
  CHECK(line == "{\"bad\":\"\xEF\xBF\xBD\",\"component\":\"c\",\"level\":\"info\",\"msg\":\"m\","
                "\"ts\":\"1970-01-01T00:00:00.000Z\"}");
}

TEST_CASE("ParseLevel", "[core][log]") {
  struct Row {
    const char* text;
    bool ok;
    Level level;
  };
  const Row rows[] = {
      {"debug", true, Level::kDebug}, {"info", true, Level::kInfo},   {"warn", true, Level::kWarn},
      {"warning", true, Level::kWarn}, {"error", true, Level::kError}, {"", false, Level::kInfo},
      {"INFO", false, Level::kInfo},  {"trace", false, Level::kInfo}, {"info ", false, Level::kInfo},
  };
  for (const Row& r : rows) {
    INFO("\"" << r.text << "\"");
    auto got = ParseLevel(r.text);
    REQUIRE(got.ok() == r.ok);
    if (r.ok) {
      CHECK(*got == r.level);
    } else {
      CHECK(got.status().code() == Code::kInvalidArgument);
      CHECK(got.status().message() ==
            "log-level: \"" + std::string(r.text) + "\" is not one of debug|info|warn|error");
    }
  }
}

TEST_CASE("ParseFormat", "[core][log]") {
  REQUIRE(ParseFormat("text").ok());
  CHECK(*ParseFormat("text") == Format::kText);
  REQUIRE(ParseFormat("json").ok());
  CHECK(*ParseFormat("json") == Format::kJson);
  for (const char* bad : {"", "JSON", "logfmt", "text "}) {
    auto got = ParseFormat(bad);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalidArgument);
    CHECK(got.status().message() == "log-format: \"" + std::string(bad) + "\" is not one of text|json");
  }
}

}  // namespace
}  // namespace skyport::log
