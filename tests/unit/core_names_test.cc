#include <catch2/catch.hpp>

#include <string>

#include "core/names.h"
#include "core/problems.h"

namespace skyport {
namespace {

struct Row {
  std::string value;
  bool ok;
};

void CheckRows(Status (*fn)(std::string_view, std::string_view), const char* field,
               std::initializer_list<Row> rows) {
  for (const Row& r : rows) {
    INFO(field << " = \"" << r.value << "\" (length " << r.value.size() << ")");
    Status s = fn(field, r.value);
    CHECK(s.ok() == r.ok);
    if (!r.ok) {
      CHECK(s.code() == Code::kInvalidArgument);
      // The message starts with the field path and quotes the value (clipped when huge).
      CHECK(s.message().rfind(std::string(field) + ": \"" + ClipEcho(r.value, 128) + "\"", 0) == 0);
    }
  }
}

TEST_CASE("ValidateName: [a-z0-9][a-z0-9-]{0,62}", "[core][names]") {
  CheckRows(ValidateName, "endpoint.app",
            {
                {"a", true},
                {"0", true},
                {"web", true},
                {"my-app-2", true},
                {"a-", true},
                {"9lives", true},
                {std::string(63, 'a'), true},
                {"a" + std::string(62, '-'), true},
                {std::string(64, 'a'), false},
                {"", false},
                {"-web", false},
                {"Web", false},
                {"wEb", false},
                {"web_app", false},
                {"web.app", false},
                {"web app", false},
                {"web/app", false},
                {"caf\xc3\xa9", false},
            });
  CHECK(ValidateName("role", "Bad").message() == "role: \"Bad\" must match [a-z0-9][a-z0-9-]{0,62}");
}

TEST_CASE("ValidateCommit: 4..64 lowercase hex", "[core][names]") {
  CheckRows(ValidateCommit, "commit",
            {
                {"abcd", true},
                {"0123456789abcdef", true},
                {std::string(64, 'f'), true},
                {std::string(40, '0'), true},
                {"abc", false},
                {"", false},
                {std::string(65, 'a'), false},
                {"ABCD", false},
                {"abcg", false},
                {"abcd ", false},
                {"-abc", false},
            });
}

TEST_CASE("ValidateCommitPrefix: 1..64 lowercase hex", "[core][names]") {
  CheckRows(ValidateCommitPrefix, "commit_prefix",
            {
                {"a", true},
                {"0", true},
                {"abc", true},
                {std::string(64, 'e'), true},
                {"", false},
                {std::string(65, 'e'), false},
                {"A", false},
                {"xyz", false},
            });
}

TEST_CASE("ValidateHost: 1..253 of [A-Za-z0-9.:-], no leading - or .", "[core][names]") {
  CheckRows(ValidateHost, "endpoint.host",
            {
                {"localhost", true},
                {"127.0.0.1", true},
                {"::1", true},
                {"fe80::1", true},
                {"Web-1.Example.COM", true},
                {std::string(253, 'h'), true},
                {std::string(254, 'h'), false},
                {"", false},
                {"-host", false},
                {".host", false},
                {"host name", false},
                {"host_name", false},
                {"[::1]", false},
                {"host:80/x", false},
            });
}

TEST_CASE("ValidateDroneName: empty or [A-Za-z0-9][A-Za-z0-9._-]{0,62}", "[core][names]") {
  CheckRows(ValidateDroneName, "endpoint.drone",
            {
                {"", true},
                {"d", true},
                {"Drone_1.eu-west", true},
                {std::string(63, 'D'), true},
                {std::string(64, 'D'), false},
                {"_drone", false},
                {".drone", false},
                {"-drone", false},
                {"drone 1", false},
                {"drone/1", false},
            });
}

TEST_CASE("ValidatePort: 1..65535", "[core][names]") {
  struct PortRow {
    int64_t port;
    bool ok;
  };
  const PortRow rows[] = {{1, true},      {80, true},     {65535, true}, {0, false},
                          {-1, false},    {65536, false}, {1LL << 40, false}};
  for (const PortRow& r : rows) {
    INFO("port " << r.port);
    Status s = ValidatePort("endpoint.port", r.port);
    CHECK(s.ok() == r.ok);
    if (!r.ok) CHECK(s.message() == "endpoint.port: " + std::to_string(r.port) + " is out of range 1..65535");
  }
}

TEST_CASE("IsHex: lowercase hex only; empty is vacuously hex", "[core][names]") {
  CHECK(IsHex(""));
  CHECK(IsHex("0123456789abcdef"));
  CHECK_FALSE(IsHex("ABCDEF"));
  CHECK_FALSE(IsHex("g"));
  CHECK_FALSE(IsHex("12 3"));
}

}  // namespace
}  // namespace skyport

TEST_CASE("flight field names: OS, arm, language tag, HTTP token, range key", "[core]") {
  for (auto os : skyport::kOsNames) CHECK(skyport::IsOsName(os));
  CHECK_FALSE(skyport::IsOsName("beos"));
  CHECK_FALSE(skyport::IsOsName("Linux"));
  CHECK(skyport::IsArmName("treatment_2"));
  CHECK(skyport::IsArmName(std::string(32, 'a')));
  CHECK_FALSE(skyport::IsArmName(std::string(33, 'a')));
  CHECK_FALSE(skyport::IsArmName("-x"));
  CHECK_FALSE(skyport::IsArmName("Control"));
  CHECK(skyport::IsLanguageTag("de"));
  CHECK(skyport::IsLanguageTag("en-US"));
  CHECK(skyport::IsLanguageTag("zh-Hant-TW"));
  CHECK_FALSE(skyport::IsLanguageTag("e"));
  CHECK_FALSE(skyport::IsLanguageTag("en-"));
  CHECK_FALSE(skyport::IsLanguageTag("1e-US"));
  CHECK_FALSE(skyport::IsLanguageTag("en-toolongsub"));
  CHECK(skyport::IsHttpToken("X-Beta"));
  CHECK(skyport::IsHttpToken("a!#$%&'*+-.^_`|~z"));
  CHECK_FALSE(skyport::IsHttpToken(""));
  CHECK_FALSE(skyport::IsHttpToken("x beta"));
  CHECK_FALSE(skyport::IsHttpToken("x:y"));
  CHECK(skyport::IsRangeKey("uid"));
  CHECK(skyport::IsRangeKey("Session_Id-2"));
  CHECK_FALSE(skyport::IsRangeKey(std::string(65, 'k')));
  CHECK_FALSE(skyport::IsRangeKey("a.b"));
}
