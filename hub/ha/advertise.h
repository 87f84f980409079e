// The addresses a hub puts in the leader key (hub/ha/election.h
// LeaderRecord): what clients and standbys send others to. Pure.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub::ha {

// --advertise when given (a HOST:PORT), else --listen's host with the port
// the server got. A wildcard host (0.0.0.0, ::) names no reachable address:
// INVALID_ARGUMENT asking for --advertise.
Result<std::string> AdvertiseGrpc(std::string_view advertise, std::string_view listen, int port);
// --advertise-git as a base URL: "http(s)://HOST:PORT" as given, a bare
// HOST:PORT gets "http://"; else --git-listen's host with the bound port.
Result<std::string> AdvertiseGit(std::string_view advertise_git, std::string_view git_listen, int port);

// An http(s) URL of at most 512 bytes without spaces or control characters.
Status CheckGitUrl(std::string_view what, std::string_view url);

}  // namespace skyport::hub::ha
