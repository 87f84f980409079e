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

}  // namespace skyport
