#include "cli/errors.h"

#include <fmt/format.h>

namespace skyport::cli {

Daemon RegistryDaemon(std::string_view target) {
  return {"skyport-registry", target, "--registry / SKYPORT_REGISTRY"};
}

Daemon HubDaemon(std::string_view target) { return {"skyport-hub", target, "--hub / SKYPORT_HUB"}; }

std::string RpcHint(const Status& s, const Daemon& daemon) {
  switch (s.code()) {
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
      return fmt::format("skyport: hint: is {} running at {}? ({})", daemon.binary, daemon.target,
                         daemon.flags);
    case Code::kUnauthenticated:
      return "skyport: hint: check --token-file / SKYPORT_TOKEN";
    default:
      return "";
  }
}

std::string FormatRpcError(std::string_view what, const Status& s, const Daemon& daemon) {
  std::string out = fmt::format("skyport: {}: {}: {}", what, CodeName(s.code()), s.message());
  if (std::string hint = RpcHint(s, daemon); !hint.empty()) out += "\n" + hint;
  return out;
}

std::string FormatRpcError(std::string_view what, const Status& s, std::string_view registry) {
  return FormatRpcError(what, s, RegistryDaemon(registry));
}

}  // namespace skyport::cli
