// Logs read back from the drone's disk, for `skyport logs` of what no longer
// runs (a stopped or failed commit, a drone restarted since) and for the
// release step's output (`skyport logs APP COMMIT --release`):
//   DATA/logs/APP/COMMIT/ROLE.INSTANCE.log (+ .1 .. .N, rotated)
//   DATA/logs/APP/COMMIT/release.log        the last release step of COMMIT
// They stay until the disk janitor's retention expires them (drone/retention.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "drone/supervisor.h"

namespace skyport::drone {

// Per file, at most this much is read, from its end.
inline constexpr size_t kMaxStoredLogReadBytes = 1 << 20;
// Commit directories a prefix may match; more is refused (INVALID_ARGUMENT).
inline constexpr size_t kMaxStoredCommitsMatched = 8;

// The last `n` lines of each instance of APP@COMMIT-PREFIX (only `role`'s,
// unless empty) kept under `log_dir`, oldest first, instance by instance.
Result<std::vector<LogLine>> ReadStoredLogs(const std::string& log_dir, const std::string& app,
                                            const std::string& commit_prefix, const std::string& role, size_t n);

// The last `n` lines of the release step's output of APP@COMMIT-PREFIX
// (role "release", instance 0; streams "output" and "status").
Result<std::vector<LogLine>> ReadReleaseLog(const std::string& log_dir, const std::string& app,
                                            const std::string& commit_prefix, size_t n);

// Where ReleaseStep keeps a commit's release output.
std::string ReleaseLogPath(const std::string& log_dir, const std::string& app, const std::string& commit);

}  // namespace skyport::drone
