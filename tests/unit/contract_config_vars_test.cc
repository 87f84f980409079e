#include <catch2/catch.hpp>

#include <string>

#include "contract/config_vars.h"

using namespace skyport;

namespace {

using Vars = std::map<std::string, std::string>;

}  // namespace

TEST_CASE("config vars: key syntax and reserved names", "[config]") {
  for (const char* ok : {"A", "_", "a", "DATABASE_URL", "x1", "_X_2", "LANG", "TZ", "skyport", "SKYPORTX"})
    CHECK(ValidateConfigKey(ok).ok());
  for (const char* bad : {"", "1A", "A-B", "A B", "A=B", "A.B", "é", "A\n"})
    CHECK(ValidateConfigKey(bad).code() == Code::kInvalidArgument);
  // The drone's own: PORT, PATH, HOME and SKYPORT_* in any case.
  for (const char* reserved : {"PORT", "PATH", "HOME", "SKYPORT_", "SKYPORT_TOKEN", "skyport_app", "Skyport_X"}) {
    CHECK(IsReservedConfigKey(reserved));
    Status s = ValidateConfigKey(reserved);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("reserved") != std::string::npos);
  }
  CHECK_FALSE(IsReservedConfigKey("PORTS"));
  CHECK_FALSE(IsReservedConfigKey("MY_PATH"));
  // The bound, and a long key is not quoted whole.
  CHECK(ValidateConfigKey(std::string(kMaxConfigKeyBytes, 'A')).ok());
  Status long_key = ValidateConfigKey(std::string(kMaxConfigKeyBytes + 1, 'A'));
  CHECK(long_key.code() == Code::kInvalidArgument);
  CHECK(long_key.message().find("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == std::string::npos);
}

TEST_CASE("config vars: values are bounded and never in a message", "[config]") {
  CHECK(ValidateConfigValue("K", "").ok());
  CHECK(ValidateConfigValue("K", "a=b\nc d").ok());  // '=', newlines and spaces are fine
  CHECK(ValidateConfigValue("K", std::string(kMaxConfigValueBytes, 'v')).ok());
  Status big = ValidateConfigValue("K", std::string(kMaxConfigValueBytes + 1, 'v'));
  CHECK(big.code() == Code::kInvalidArgument);
  CHECK(big.message().find("vvvv") == std::string::npos);
  Status nul = ValidateConfigValue("K", std::string("s3cr\0t", 6));
  CHECK(nul.code() == Code::kInvalidArgument);
  CHECK(nul.message().find("s3cr") == std::string::npos);
}

TEST_CASE("config vars: KEY=VALUE parsing", "[config]") {
  auto kv = ParseConfigAssignment("DATABASE_URL=postgres://u:p@h/db?x=1", 1);
  REQUIRE(kv.ok());
  CHECK(kv->first == "DATABASE_URL");
  CHECK(kv->second == "postgres://u:p@h/db?x=1");  // split at the first '='
  auto empty = ParseConfigAssignment("EMPTY=", 1);
  REQUIRE(empty.ok());
  CHECK(empty->second.empty());
  // Not KEY=VALUE: the argument may be a secret typed alone, so only its position is named.
  auto bare = ParseConfigAssignment("hunter2", 3);
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.status().code() == Code::kInvalidArgument);
  CHECK(bare.status().message().find("argument 3") != std::string::npos);
  CHECK(bare.status().message().find("hunter2") == std::string::npos);
  // A bad key names the key, never the value.
  auto bad_key = ParseConfigAssignment("1BAD=hunter2", 1);
  REQUIRE_FALSE(bad_key.ok());
  CHECK(bad_key.status().message().find("1BAD") != std::string::npos);
  CHECK(bad_key.status().message().find("hunter2") == std::string::npos);
  auto reserved = ParseConfigAssignment("PORT=80", 1);
  CHECK(reserved.status().code() == Code::kInvalidArgument);
  CHECK(ParseConfigAssignment("=x", 1).status().code() == Code::kInvalidArgument);
}

TEST_CASE("config vars: a change applies set then unset, within bounds", "[config]") {
  Vars vars{{"A", "1"}, {"B", "2"}};
  auto got = ApplyConfigChange(vars, ConfigChange{{{"C", "3"}, {"A", "one"}}, {"B", "NOT_SET"}});
  REQUIRE(got.ok());
  CHECK(*got == Vars{{"A", "one"}, {"C", "3"}});
  // Every problem, one per line; nothing applied.
  auto bad = ApplyConfigChange(vars, ConfigChange{{{"PORT", "1"}, {"OK", "x"}, {"9X", "y"}}, {"A", "HOME"}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("PORT") != std::string::npos);
  CHECK(bad.status().message().find("9X") != std::string::npos);
  CHECK(bad.status().message().find("HOME") != std::string::npos);
  CHECK(ApplyConfigChange(vars, ConfigChange{{{"A", "1"}}, {"A"}}).status().code() == Code::kInvalidArgument);
  // The count bound.
  Vars full;
  for (size_t i = 0; i < kMaxConfigVars; ++i) full["K" + std::to_string(i)] = "v";
  CHECK(ApplyConfigChange(full, ConfigChange{{{"K0", "w"}}, {}}).ok());  // replacing is fine
  auto over = ApplyConfigChange(full, ConfigChange{{{"ONE_MORE", "v"}}, {}});
  CHECK(over.status().code() == Code::kInvalidArgument);
  CHECK(ApplyConfigChange(full, ConfigChange{{{"ONE_MORE", "v"}}, {"K0"}}).ok());
  // The total bound: names and values together.
  Vars big;
  for (size_t i = 0; i < kMaxConfigTotalBytes / kMaxConfigValueBytes; ++i)
    big["V" + std::to_string(i)] = std::string(kMaxConfigValueBytes - 10, 'x');
  REQUIRE(ApplyConfigChange({}, ConfigChange{big, {}}).ok());
  auto too_big = ApplyConfigChange(big, ConfigChange{{{"EXTRA", std::string(kMaxConfigValueBytes, 'x')}}, {}});
  CHECK(too_big.status().code() == Code::kInvalidArgument);
  CHECK(too_big.status().message().find("xxxx") == std::string::npos);
}

TEST_CASE("config vars: masking shows no part of a value", "[config]") {
  Vars vars{{"A", "secret"}, {"B", ""}, {"C", std::string(1000, 's')}};
  Vars masked = MaskConfig(vars, false);
  REQUIRE(masked.size() == 3);
  for (const auto& [k, v] : masked) CHECK(v == kConfigMask);  // the same mask whatever the length
  CHECK(MaskConfig(vars, true) == vars);
}

TEST_CASE("config vars: a deploy's own --env wins over the app's config", "[config]") {
  CHECK(MergeConfigEnv({{"A", "config"}, {"B", "config"}}, {{"B", "deploy"}, {"C", "deploy"}}) ==
        Vars{{"A", "config"}, {"B", "deploy"}, {"C", "deploy"}});
  CHECK(MergeConfigEnv({}, {{"X", "1"}}) == Vars{{"X", "1"}});
  CHECK(MergeConfigEnv({{"X", "1"}}, {}) == Vars{{"X", "1"}});
}
