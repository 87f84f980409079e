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

// The daemon a command talks to, named in the UNAVAILABLE hint.
struct Daemon {
  std::string_view binary;  // "skyport-hub"
  std::string_view target;  // HOST:PORT dialled
  std::string_view flags;   // "--hub / SKYPORT_HUB"
};
Daemon RegistryDaemon(std::string_view target);
Daemon HubDaemon(std::string_view target);

std::string FormatRpcError(std::string_view what, const Status& status, const Daemon& daemon);
// `registry` is the --registry target, named in the UNAVAILABLE hint.
std::string FormatRpcError(std::string_view what, const Status& status, std::string_view registry);

// Only the hint line for `status` ("" when there is none), without a newline.
std::string RpcHint(const Status& status, const Daemon& daemon);

}  // namespace skyport::cli
