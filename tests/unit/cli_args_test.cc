#include <catch2/catch.hpp>

#include "cli/args.h"
#include "cli/errors.h"

using namespace skyport;
using namespace skyport::cli;

TEST_CASE("ParseAppCommit accepts APP@COMMIT and folds case", "[cli]") {
  auto r = ParseAppCommit("web-app@74336BC1db98");
  REQUIRE(r.ok());
  CHECK(r->app == "web-app");
  CHECK(r->commit == "74336bc1db98");
}

TEST_CASE("ParseAppCommit rejects bad input with the field named", "[cli]") {
  struct Case {
    const char* arg;
    const char* needle;
  } cases[] = {
      {"web", "expected APP@COMMIT"},
      {"Web@abcd", "app:"},
      {"@abcd", "app:"},
      {"web@abc", "commit:"},           // too short
      {"web@xyz1", "commit:"},          // not hex
      {"web@", "commit:"},
      {"web@abcd@ef01", "commit:"},
  };
  for (const auto& c : cases) {
    INFO(c.arg);
    auto r = ParseAppCommit(c.arg);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message().find(c.needle) != std::string::npos);
  }
  std::string longest = "web@";
  longest.append(64, 'a');
  CHECK(ParseAppCommit(longest).ok());
  CHECK_FALSE(ParseAppCommit(longest + "a").ok());
}

TEST_CASE("ParseAppQuery takes an optional commit prefix", "[cli]") {
  auto a = ParseAppQuery("web");
  REQUIRE(a.ok());
  CHECK(a->app == "web");
  CHECK(a->commit.empty());
  auto b = ParseAppQuery("web@7");
  REQUIRE(b.ok());
  CHECK(b->commit == "7");
  CHECK_FALSE(ParseAppQuery("web@").ok());
  CHECK_FALSE(ParseAppQuery("web@zz").ok());
  CHECK_FALSE(ParseAppQuery("-web").ok());
}

TEST_CASE("ParseMeta splits at the first =", "[cli]") {
  auto r = ParseMeta("k=v=w");
  REQUIRE(r.ok());
  CHECK(r->first == "k");
  CHECK(r->second == "v=w");
  auto empty = ParseMeta("k=");
  REQUIRE(empty.ok());
  CHECK(empty->second.empty());
  CHECK_FALSE(ParseMeta("=v").ok());
  CHECK_FALSE(ParseMeta("kv").ok());
}

TEST_CASE("SplitCommand cuts at -- only for register", "[cli]") {
  auto s = SplitCommand({"skyport", "registry", "register", "a@abcd", "web", "--host", "h", "--",
                         "python3", "-m", "http.server", "--", "x"});
  CHECK(s.has_command);
  CHECK(s.head == std::vector<std::string>{"skyport", "registry", "register", "a@abcd", "web",
                                           "--host", "h"});
  CHECK(s.command == std::vector<std::string>{"python3", "-m", "http.server", "--", "x"});

  auto none = SplitCommand({"skyport", "registry", "register", "a@abcd", "web"});
  CHECK_FALSE(none.has_command);
  CHECK(none.head.size() == 5);

  auto other = SplitCommand({"skyport", "registry", "query", "--", "web"});
  CHECK_FALSE(other.has_command);
  CHECK(other.head.size() == 5);

  auto empty_cmd = SplitCommand({"skyport", "registry", "register", "--"});
  CHECK(empty_cmd.has_command);
  CHECK(empty_cmd.command.empty());
}

TEST_CASE("FormatRpcError adds hints for the common mistakes", "[cli]") {
  auto u = FormatRpcError("show", Status::Unavailable("failed to connect"), "10.0.0.1:6000");
  CHECK(u.rfind("skyport: show: UNAVAILABLE: failed to connect", 0) == 0);
  CHECK(u.find("is skyport-registry running at 10.0.0.1:6000? (--registry / SKYPORT_REGISTRY)") !=
        std::string::npos);
  auto a = FormatRpcError("show", Status::Unauthenticated("wrong cluster token"), "x");
  CHECK(a.find("check --token-file / SKYPORT_TOKEN") != std::string::npos);
  auto n = FormatRpcError("free 7", Status::NotFound("no entry 7"), "x");
  CHECK(n == "skyport: free 7: NOT_FOUND: no entry 7");
}
