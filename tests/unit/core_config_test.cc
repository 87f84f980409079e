#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <string>

#include "core/config.h"

namespace skyport {
namespace {

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_CASE("EnvNameForFlag", "[core][config]") {
  struct Row {
    const char* flag;
    const char* want;
  };
  const Row rows[] = {
      {"token-file", "SKYPORT_TOKEN_FILE"},
      {"--registry", "SKYPORT_REGISTRY"},
      {"-v", "SKYPORT_V"},
      {"---x", "SKYPORT_X"},
      {"log.level", "SKYPORT_LOG_LEVEL"},
      {"admin-addr2", "SKYPORT_ADMIN_ADDR2"},
      {"already_UPPER", "SKYPORT_ALREADY_UPPER"},
      {"", "SKYPORT_"},
      {"--", "SKYPORT_"},
  };
  for (const Row& r : rows) {
    INFO(r.flag);
    CHECK(EnvNameForFlag(r.flag) == r.want);
  }
}

TEST_CASE("EnvName and EnvNameForFlag: the CLI's short names, a daemon's own prefix", "[core][config]") {
  CHECK(EnvName("", "TOKEN") == "SKYPORT_TOKEN");
  CHECK(EnvName("router", "TOKEN") == "SKYPORT_ROUTER_TOKEN");
  CHECK(EnvName("hub", "etcd-password") == "SKYPORT_HUB_ETCD_PASSWORD");
  CHECK(EnvNameForFlag("--hub", "router") == "SKYPORT_ROUTER_HUB");
  CHECK(EnvNameForFlag("hub", "") == "SKYPORT_HUB");
  CHECK(EnvNameForFlag("--token-file", "drone") == "SKYPORT_DRONE_TOKEN_FILE");
  CHECK(EnvNameForFlag("registry", "registry") == "SKYPORT_REGISTRY_REGISTRY");
  // A daemon's names never equal one of the CLI's: the CLI has no top-level flag that starts
  // with a daemon's name (checked against the binaries in tests/integration/test_env_names.py).
  EnvLookup env = MapEnv({{"SKYPORT_HUB", "h:1"}, {"SKYPORT_ROUTER_REGISTRY", "r:1"}});
  CHECK_FALSE(EnvOverridesFile("hub", env, "router"));
  CHECK(EnvOverridesFile("hub", env, ""));
  CHECK(EnvOverridesFile("registry", env, "router"));
  CHECK_FALSE(EnvOverridesFile("registry", env, ""));
}

TEST_CASE("EnvOverridesFile: true exactly when the SKYPORT_ variable is set", "[core][config]") {
  EnvLookup env = MapEnv({{"SKYPORT_REGISTRY", "r:1"}, {"SKYPORT_TOKEN_FILE", "/t"}});
  struct Row {
    const char* flag;
    bool want;
  };
  const Row rows[] = {
      {"registry", true},    {"--registry", true}, {"token-file", true}, {"token_file", true},
      {"token", false},      {"REGISTRY", true},   {"registry2", false}, {"admin", false},
  };
  for (const Row& r : rows) {
    INFO(r.flag);
    CHECK(EnvOverridesFile(r.flag, env) == r.want);
  }
  CHECK_FALSE(EnvOverridesFile("registry", MapEnv({})));
}

TEST_CASE("ProcessEnv: reads the process environment; empty counts as unset", "[core][config]") {
  const char* name = "SKYPORT_UNIT_CONFIG_TEST_VAR";
  EnvLookup env = ProcessEnv();
  ::unsetenv(name);
  CHECK_FALSE(env(name).has_value());
  ::setenv(name, "", 1);
  CHECK_FALSE(env(name).has_value());
  ::setenv(name, "value 1", 1);
  REQUIRE(env(name).has_value());
  CHECK(*env(name) == "value 1");
  ::unsetenv(name);
}

}  // namespace
}  // namespace skyport
