// Reading the files the drone itself interprets from a checkout (Procfile,
// skyport.json). The checkout is the app's: a commit can hold a symlink
// (`Procfile -> /etc/passwd`, `-> /dev/zero`) and an app running as the
// checkout's owner can replace a file with one. So a file is opened
// relative to the checkout's directory fd, without following any link
// (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, else O_NOFOLLOW on the
// one path component), must be a regular file, and is read up to a cap.
// Error messages never hold the file's contents.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace skyport::drone {

// Procfile and skyport.json are a few hundred bytes; 64 KiB is generous.
inline constexpr size_t kMaxSpecFileBytes = 64 * 1024;

// `name` is one path component. NOT_FOUND when it does not exist;
// FAILED_PRECONDITION for a symlink, a non-regular file, or one over
// `max_bytes` (the message names the cap).
Result<std::string> ReadCheckoutFile(const std::string& dir, const std::string& name,
                                     size_t max_bytes = kMaxSpecFileBytes);

}  // namespace skyport::drone
