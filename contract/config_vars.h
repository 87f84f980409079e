// Config vars: an app's environment kept at the hub (`skyport config`).
// The rules the hub and the CLI share: which names an app may set, how
// large a value and a whole config may be, how a change applies, how values
// are masked for display, and how config and a deploy's own --env merge.
// Pure.
//
// Values are secrets: no function here puts a value into an error message;
// an error names the key (or, for an argument that is not KEY=VALUE, only
// its position).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace skyport {

// Bounds: a name like a shell variable's, a value, the number of vars, and
// the whole config (names + values) per app.
inline constexpr size_t kMaxConfigKeyBytes = 128;
inline constexpr size_t kMaxConfigValueBytes = 32 * 1024;
inline constexpr size_t kMaxConfigVars = 200;
inline constexpr size_t kMaxConfigTotalBytes = 256 * 1024;
// Keys one `config set` / `config unset` may name.
inline constexpr size_t kMaxConfigChangeKeys = kMaxConfigVars;
// `skyport config set --stdin` reads at most this much (values, keys, comments).
inline constexpr size_t kMaxConfigStdinBytes = kMaxConfigTotalBytes + 64 * 1024;

// What display shows instead of a value (the same for every value: neither
// its length nor any of its characters).
inline constexpr std::string_view kConfigMask = "********";

// Names the drone sets for every app, which config may not replace: PORT,
// PATH, HOME (drone/app_env.h) and everything starting with SKYPORT_.
bool IsReservedConfigKey(std::string_view key);

// A name of [A-Za-z_][A-Za-z0-9_]*, at most kMaxConfigKeyBytes, not reserved.
Status ValidateConfigKey(std::string_view key);
// At most kMaxConfigValueBytes, no NUL byte (an environment cannot hold one).
// The error names `key`, never the value.
Status ValidateConfigValue(std::string_view key, std::string_view value);

// "KEY=VALUE" (split at the first '='; the value may be empty or hold '=').
// `position` (1-based) names the argument when it is not KEY=VALUE at all.
Result<std::pair<std::string, std::string>> ParseConfigAssignment(std::string_view arg, size_t position);

// One `config set` or `config unset`.
struct ConfigChange {
  std::map<std::string, std::string> set;
  std::vector<std::string> unset;
};

// Checks every key and value of `change` (every problem, one per line), and
// that the result stays within kMaxConfigVars and kMaxConfigTotalBytes.
// Unsetting a key that is not set is not an error (nothing to do).
Result<std::map<std::string, std::string>> ApplyConfigChange(const std::map<std::string, std::string>& vars,
                                                             const ConfigChange& change);

// The vars with every value replaced by kConfigMask (`reveal`: as they are).
std::map<std::string, std::string> MaskConfig(const std::map<std::string, std::string>& vars, bool reveal);

// The environment a deploy hands the drone: the app's config, then the
// deploy's own --env on top (the more specific wins for its keys).
std::map<std::string, std::string> MergeConfigEnv(const std::map<std::string, std::string>& config,
                                                  const std::map<std::string, std::string>& deploy_env);

}  // namespace skyport
