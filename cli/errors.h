// How failures are reported: one line `skyport: <what failed>: <CODE>: <msg>`
// and, for the mistakes people make most, a second line with a hint.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::cli {

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // RPC or runtime failure
inline constexpr int kExitUsage = 2;    // bad arguments, missing token, unreadable files

// `registry` is the --registry target, named in the UNAVAILABLE hint.
std::string FormatRpcError(std::string_view what, const Status& status, std::string_view registry);

}  // namespace skyport::cli
