// Pure request classification for the git HTTP server: which endpoint a
// request target names, and the password in a Basic Authorization header.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub {

struct GitRoute {
  enum class Kind { kInfoRefs, kReceivePack, kUploadPack };
  Kind kind = Kind::kInfoRefs;
  std::string app;      // validated app name, ".git" stripped
  std::string service;  // the ?service= value for info/refs ("" if absent)
};

// "/<app>[.git]/info/refs[?service=...]", "/<app>[.git]/git-receive-pack",
// "/<app>[.git]/git-upload-pack". NOT_FOUND for any other shape,
// INVALID_ARGUMENT when the app part is not a valid name ("Web", "a/b", "..").
Result<GitRoute> ParseGitTarget(std::string_view target);

// The password of "Basic base64(user:password)"; nullopt if the header is
// absent, not Basic, not valid base64 or has no ':'.
std::optional<std::string> BasicAuthPassword(std::string_view authorization);

}  // namespace skyport::hub
