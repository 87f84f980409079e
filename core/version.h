// What `--version` prints: the release, the commit the binary was built from
// and the day it was built (cmake/version.cmake generates the last two).
#pragma once

#include <string>
#include <string_view>

namespace skyport {

const char* BuildCommit();  // 12 hex digits, "-dirty" for local changes, or "unknown"
const char* BuildDate();    // YYYY-MM-DD, UTC

// "skyport-hub 0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)"; program "" is the CLI.
std::string VersionLine(std::string_view program);

}  // namespace skyport
