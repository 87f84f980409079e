#include "hub/ha/advertise.h"

#include <fmt/format.h>

#include "core/address_list.h"

namespace skyport::hub::ha {
namespace {

// The host of a listen address (HOST:PORT or [V6]:PORT, port 0 allowed), "" for a wildcard.
Result<std::string> ListenHost(std::string_view flag, std::string_view listen) {
  if (listen.rfind(':') == std::string_view::npos)
    return Status::InvalidArgument(fmt::format("{}: {} is not HOST:PORT", flag, listen));
  std::string host(listen.substr(0, listen.rfind(':')));
  if (host == "0.0.0.0" || host == "[::]" || host == "::" || host.empty()) return std::string();
  return host;
}

}  // namespace

Result<std::string> AdvertiseGrpc(std::string_view advertise, std::string_view listen, int port) {
  if (!advertise.empty()) {
    if (Status s = ValidateAddress("advertise", advertise); !s.ok()) return s;
    return std::string(advertise);
  }
  auto host = ListenHost("listen", listen);
  if (!host.ok()) return host.status();
  if (host->empty())
    return Status::InvalidArgument(
        fmt::format("advertise: required with --store etcd when --listen ({}) is a wildcard", listen));
  return fmt::format("{}:{}", *host, port);
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
  auto host = ListenHost("git-listen", git_listen);
  if (!host.ok()) return host.status();
  if (host->empty())
    return Status::InvalidArgument(
        fmt::format("advertise-git: required with --store etcd when --git-listen ({}) is a wildcard", git_listen));
  return fmt::format("http://{}:{}", *host, port);
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
