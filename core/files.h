// Small file helpers for state that must survive a crash.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport {

// Writes `data` to `path` so that a reader (or a restart after kill -9 or a
// power cut) sees either the old or the new contents: temp file, fsync,
// rename, fsync of the directory.
Status WriteFileAtomic(const std::string& path, std::string_view data);
// NOT_FOUND if missing.
Result<std::string> ReadFile(const std::string& path);

}  // namespace skyport
