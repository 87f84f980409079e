// Where settings come from: command-line flags, then environment variables,
// then a config file, then defaults (first one set wins). Each program has
// its own variables: SKYPORT_<NAME> for the `skyport` CLI, and
// SKYPORT_<DAEMON>_<NAME> for a daemon (SKYPORT_ROUTER_HUB, not the CLI's
// SKYPORT_HUB: a shell set up for the CLI must not point a daemon elsewhere).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace skyport {

// The variable of setting `name` ("TOKEN", "CONFIG") for `program`: "" (the
// CLI) -> "SKYPORT_TOKEN"; "router" -> "SKYPORT_ROUTER_TOKEN".
std::string EnvName(std::string_view program, std::string_view name);

// "token-file" -> "SKYPORT_TOKEN_FILE"; "--registry" -> "SKYPORT_REGISTRY";
// for program "hub": "token-file" -> "SKYPORT_HUB_TOKEN_FILE".
std::string EnvNameForFlag(std::string_view flag, std::string_view program = "");

// Looks up an environment variable; tests pass a map-backed function.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// True when a config-file entry for `flag` must give way to the environment.
bool EnvOverridesFile(std::string_view flag, const EnvLookup& env, std::string_view program = "");

}  // namespace skyport
