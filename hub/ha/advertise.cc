#include "hub/ha/advertise.h"

#include <fmt/format.h>

#include "core/address_list.h"

namespace skyport::hub::ha {
namespace {

// HOST:PORT from a listen address (HOST:PORT or [V6]:PORT, port 0 allowed) and the bound port;
// a wildcard host names no reachable address: INVALID_ARGUMENT asking for --`flag`.
Result<std::string> FromListen(std::string_view flag, std::string_view listen_flag, std::string_view listen, int port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos)
    return Status::InvalidArgument(fmt::format("{}: {} is not HOST:PORT", listen_flag, listen));
  std::string_view host = listen.substr(0, colon);
  if (host == "0.0.0.0" || host == "[::]" || host == "::" || host.empty())
    return Status::InvalidArgument(
        fmt::format("{}: required with --store etcd when --{} ({}) is a wildcard", flag, listen_flag, listen));
  return fmt::format("{}:{}", host, port);
}

}  // namespace

Result<std::string> AdvertiseGrpc(std::string_view advertise, std::string_view listen, int port) {
  if (!advertise.empty()) {
    if (Status s = ValidateAddress("advertise", advertise); !s.ok()) return s;
    return std::string(advertise);
  }
  return FromListen("advertise", "listen", listen, port);
}

Result<std::string> AdvertiseGit(std::string_view advertise_git, std::string_view git_listen, int port) {
  if (!advertise_git.empty()) {
    if (advertise_git.find("://") == std::string_view::npos) {
      if (Status s = ValidateAddress("advertise-git", advertise_git); !s.ok()) return s;
      return "http://" + std::string(advertise_git);
    }
    if (Status s = CheckGitUrl("advertise-git", advertise_git); !s.ok()) return s;
    return std::string(advertise_git);
  }
  auto address = FromListen("advertise-git", "git-listen", git_listen, port);
  if (!address.ok()) return address.status();
  return "http://" + *address;
}

Status CheckGitUrl(std::string_view what, std::string_view url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return Status::InvalidArgument(fmt::format("{}: not an http(s) URL", what));
  if (url.size() > 512) return Status::InvalidArgument(fmt::format("{}: longer than 512 bytes", what));
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f) return Status::InvalidArgument(fmt::format("{}: space or control character", what));
  return Status::Ok();
}

}  // namespace skyport::hub::ha
