// Where settings come from: command-line flags, then SKYPORT_* environment
// variables, then a config file, then defaults (first one set wins).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace skyport {

// "token-file" -> "SKYPORT_TOKEN_FILE"; "--registry" -> "SKYPORT_REGISTRY".
std::string EnvNameForFlag(std::string_view flag);

// Looks up an environment variable; tests pass a map-backed function.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// True when a config-file entry for `flag` must give way to the environment.
bool EnvOverridesFile(std::string_view flag, const EnvLookup& env);

}  // namespace skyport
