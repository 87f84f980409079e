// The cluster token: where it comes from and how it is compared.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport {

// Reads the token from `file` if non-empty (surrounding whitespace trimmed),
// else from `env_value`, the value of variable `env_name` (the program's own:
// SKYPORT_TOKEN for the CLI, SKYPORT_HUB_TOKEN for the hub). Empty tokens and
// unreadable files are errors that say how to provide one. The token itself
// never appears in a message.
Result<std::string> LoadToken(const std::string& file, const std::string& env_value,
                              const std::string& env_name = "SKYPORT_TOKEN");

// Compares in time that depends only on the lengths, not on where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace skyport
