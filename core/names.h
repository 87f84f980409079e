// Validation of the names every daemon accepts. Each returns OK or an
// INVALID_ARGUMENT whose message starts with the field path it was given.
#pragma once

#include <string_view>

#include "core/status.h"

namespace skyport {

// App and role names: [a-z0-9][a-z0-9-]{0,62}.
Status ValidateName(std::string_view field, std::string_view value);
// A full commit: 4..64 lowercase hex characters.
Status ValidateCommit(std::string_view field, std::string_view value);
// A commit prefix for queries: 1..64 lowercase hex characters.
Status ValidateCommitPrefix(std::string_view field, std::string_view value);
// Host name or IP literal: 1..253 of [A-Za-z0-9.:-], no leading '-' or '.'.
Status ValidateHost(std::string_view field, std::string_view value);
// Drone names: "" or [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
Status ValidateDroneName(std::string_view field, std::string_view value);
// TCP port: 1..65535.
Status ValidatePort(std::string_view field, int64_t value);

bool IsHex(std::string_view s);

// Flight fields, as hub specs, the registry's route configs and routers read them.
// OS families routers tell from a User-Agent (router/flight_match.h).
inline constexpr std::string_view kOsNames[] = {"android", "ios", "chromeos", "windows", "mac", "linux"};
bool IsOsName(std::string_view s);
// Arm names: [a-z0-9][a-z0-9_-]{0,31}.
bool IsArmName(std::string_view s);
// Language tags: [A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*.
bool IsLanguageTag(std::string_view s);
// RFC 9110 token (header names), any case.
bool IsHttpToken(std::string_view s);
// Cookie or header names a flight's range key is read from: [A-Za-z0-9_-]{1,64}.
bool IsRangeKey(std::string_view s);

}  // namespace skyport
