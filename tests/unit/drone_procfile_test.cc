#include <catch2/catch.hpp>

#include "drone/procfile.h"

namespace skyport::drone {
namespace {

using Commands = std::map<std::string, std::string>;  // role -> command

Commands CommandsOf(const AppSpec& spec) {
  Commands out;
  for (const auto& [role, r] : spec.roles) out[role] = r.command;
  return out;
}

TEST_CASE("ParseProcfile: roles, comments, blank lines, CRLF, release", "[drone][procfile]") {
  struct Row {
    const char* name;
    std::string text;
    Commands want;
    std::string want_release;
  };
  const Row rows[] = {
      {"one role", "web: python3 server.py\n", {{"web", "python3 server.py"}}, ""},
      {"no trailing newline", "web: python3 server.py", {{"web", "python3 server.py"}}, ""},
      {"two roles", "web: ./web\nworker: ./work --queue=q\n", {{"web", "./web"}, {"worker", "./work --queue=q"}}, ""},
      {"no space after colon", "web:./web\n", {{"web", "./web"}}, ""},
      {"spaces and tabs trimmed", "  web \t:\t ./web --x  \t\n", {{"web", "./web --x"}}, ""},
      {"colons in the command are kept", "web: sh -c 'echo a:b' http://x:1\n", {{"web", "sh -c 'echo a:b' http://x:1"}},
       ""},
      {"comments and blank lines",
       "# the app\n\nweb: ./web\n   # indented comment\n\n\t\nworker: ./w # not a comment\n",
       {{"web", "./web"}, {"worker", "./w # not a comment"}},
       ""},
      {"CRLF line endings", "web: ./web\r\nworker: ./w\r\n\r\n", {{"web", "./web"}, {"worker", "./w"}}, ""},
      {"release line", "release: make build\nweb: ./web\n", {{"web", "./web"}}, "make build"},
      {"release after the roles, CRLF", "web: ./web\r\nrelease: ./migrate.sh\r\n", {{"web", "./web"}}, "./migrate.sh"},
      {"role names with digits and dashes", "web-2: a\n0: b\nx-y-z9: c\n", {{"web-2", "a"}, {"0", "b"}, {"x-y-z9", "c"}},
       ""},
      {"a 63-character role name", std::string(63, 'a') + ": x\n", {{std::string(63, 'a'), "x"}}, ""},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    auto spec = ParseProcfile(r.text);
    REQUIRE(spec.ok());
    CHECK(CommandsOf(*spec) == r.want);
    CHECK(spec->release == r.want_release);
    CHECK(spec->release_timeout_ms == 600'000);
    for (const auto& [role, rs] : spec->roles) {
      CHECK(rs.port);
      CHECK(rs.health_path.empty());
    }
  }
}

TEST_CASE("ParseProcfile: errors are INVALID_ARGUMENT and name the line", "[drone][procfile]") {
  struct Row {
    const char* name;
    std::string text;
    std::vector<std::string> message_has;
  };
  const Row rows[] = {
      {"empty file", "", {"no roles"}},
      {"only comments and blanks", "# nothing\n\n   \n", {"no roles"}},
      {"only a release line", "release: make\n", {"no roles"}},
      {"duplicate role", "web: a\nworker: b\nweb: c\n", {"Procfile:3", "web", "twice"}},
      {"duplicate role after blanks and comments", "\n# c\nweb: a\n\r\nweb: b\r\n", {"Procfile:5", "web"}},
      {"second release line", "release: a\nweb: x\nrelease: b\n", {"Procfile:3", "release"}},
      {"missing colon", "web: a\njust a command\n", {"Procfile:2", "role: command"}},
      {"empty command", "web:\n", {"Procfile:1", "web", "no command"}},
      {"blank command", "worker: ./w\nweb:  \t \n", {"Procfile:2", "web", "no command"}},
      {"empty release command", "release:\nweb: a\n", {"Procfile:1", "release"}},
      {"uppercase role", "Web: a\n", {"Procfile:1", "role"}},
      {"underscore in role", "web_1: a\n", {"Procfile:1", "role"}},
      {"role starting with a dash", "-web: a\n", {"Procfile:1", "role"}},
      {"space inside role", "my web: a\n", {"Procfile:1", "role"}},
      {"empty role", ": a\n", {"Procfile:1", "role"}},
      {"64-character role", std::string(64, 'a') + ": x\n", {"Procfile:1", "role"}},
      {"bad line after good ones counts every line", "web: a\n\n# x\nworker b\n", {"Procfile:4"}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    auto spec = ParseProcfile(r.text);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.status().code() == Code::kInvalidArgument);
    INFO("message: " << spec.status().message());
    for (const auto& part : r.message_has) CHECK(spec.status().message().find(part) != std::string::npos);
  }
}

AppSpec WebAndWorker() {
  auto spec = ParseProcfile("web: ./web\nworker: ./work\n");
  REQUIRE(spec.ok());
  return *spec;
}

TEST_CASE("ApplySkyportJson: options that apply", "[drone][procfile]") {
  SECTION("empty object changes nothing") {
    AppSpec spec = WebAndWorker();
    REQUIRE(ApplySkyportJson("{}", spec).ok());
    CHECK(spec.release.empty());
    CHECK(spec.release_timeout_ms == 600'000);
    CHECK(spec.roles.at("web").port);
    CHECK(spec.roles.at("worker").port);
  }
  SECTION("every option") {
    AppSpec spec = WebAndWorker();
    Status s = ApplySkyportJson(R"({"release": "make", "release_timeout_s": 90,
        "roles": {"worker": {"port": false}, "web": {"health": "/healthz", "port": true}}})",
                                spec);
    REQUIRE(s.ok());
    CHECK(spec.release == "make");
    CHECK(spec.release_timeout_ms == 90'000);
    CHECK_FALSE(spec.roles.at("worker").port);
    CHECK(spec.roles.at("worker").health_path.empty());
    CHECK(spec.roles.at("web").port);
    CHECK(spec.roles.at("web").health_path == "/healthz");
    CHECK(spec.roles.at("web").command == "./web");  // commands untouched
  }
  SECTION("release in skyport.json overrides the Procfile's") {
    auto parsed = ParseProcfile("release: old\nweb: ./web\n");
    REQUIRE(parsed.ok());
    AppSpec spec = *parsed;
    REQUIRE(ApplySkyportJson(R"({"release": "new"})", spec).ok());
    CHECK(spec.release == "new");
  }
  SECTION("a role may have an empty option object") {
    AppSpec spec = WebAndWorker();
    REQUIRE(ApplySkyportJson(R"({"roles": {"web": {}}})", spec).ok());
    CHECK(spec.roles.at("web").port);
  }
  SECTION("large but sane timeout") {
    AppSpec spec = WebAndWorker();
    REQUIRE(ApplySkyportJson(R"({"release_timeout_s": 86400})", spec).ok());
    CHECK(spec.release_timeout_ms == 86'400'000);
  }
  SECTION("min uptime per app") {
    AppSpec spec = WebAndWorker();
    CHECK(spec.min_uptime_ms == -1);  // unset: the drone's flag
    REQUIRE(ApplySkyportJson(R"({"min_uptime_ms": 0})", spec).ok());
    CHECK(spec.min_uptime_ms == 0);
    REQUIRE(ApplySkyportJson(R"({"min_uptime_ms": 600000})", spec).ok());
    CHECK(spec.min_uptime_ms == 600'000);
  }
}

TEST_CASE("ApplySkyportJson: bad input is INVALID_ARGUMENT naming the key", "[drone][procfile]") {
  struct Row {
    const char* name;
    std::string text;
    std::vector<std::string> message_has;
  };
  const Row rows[] = {
      {"not JSON", "{", {"not a JSON object"}},
      {"empty text", "", {"not a JSON object"}},
      {"an array", "[]", {"not a JSON object"}},
      {"a string", "\"x\"", {"not a JSON object"}},
      {"null", "null", {"not a JSON object"}},
      {"unknown top-level key", R"({"releese": "make"})", {"releese", "unknown key"}},
      {"release not a string", R"({"release": 5})", {"release"}},
      {"timeout a string", R"({"release_timeout_s": "600"})", {"release_timeout_s"}},
      {"timeout negative", R"({"release_timeout_s": -5})", {"release_timeout_s"}},
      {"timeout fractional", R"({"release_timeout_s": 1.5})", {"release_timeout_s"}},
      {"timeout zero", R"({"release_timeout_s": 0})", {"release_timeout_s"}},
      {"timeout overflowing milliseconds", R"({"release_timeout_s": 18446744073709551615})", {"release_timeout_s"}},
      {"timeout absurdly long", R"({"release_timeout_s": 9223372036854775807})", {"release_timeout_s"}},
      {"min uptime too long", R"({"min_uptime_ms": 600001})", {"min_uptime_ms"}},
      {"min uptime negative", R"({"min_uptime_ms": -1})", {"min_uptime_ms"}},
      {"min uptime a string", R"({"min_uptime_ms": "3000"})", {"min_uptime_ms"}},
      {"roles not an object", R"({"roles": ["web"]})", {"roles"}},
      {"unknown role", R"({"roles": {"cron": {"port": false}}})", {"roles.cron", "no such role"}},
      {"role options not an object", R"({"roles": {"web": false}})", {"roles.web"}},
      {"unknown role option", R"({"roles": {"web": {"healthz": "/x"}}})", {"roles.web.healthz"}},
      {"port not a boolean", R"({"roles": {"worker": {"port": 0}}})", {"roles.worker.port"}},
      {"port a string", R"({"roles": {"worker": {"port": "false"}}})", {"roles.worker.port"}},
      {"health without a slash", R"({"roles": {"web": {"health": "healthz"}}})", {"roles.web.health"}},
      {"health empty", R"({"roles": {"web": {"health": ""}}})", {"roles.web.health"}},
      {"health not a string", R"({"roles": {"web": {"health": true}}})", {"roles.web.health"}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    AppSpec spec = WebAndWorker();
    Status s = ApplySkyportJson(r.text, spec);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Code::kInvalidArgument);
    INFO("message: " << s.message());
    CHECK(s.message().find("skyport.json") != std::string::npos);
    for (const auto& part : r.message_has) CHECK(s.message().find(part) != std::string::npos);
  }
}

}  // namespace
}  // namespace skyport::drone
