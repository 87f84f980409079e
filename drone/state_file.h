// The supervisor's memory across drone restarts: which processes it had
// running. A drone that crashed leaves its apps running; the next one reads
// this file and stops exactly those processes (a pid alone is not enough,
// pids get reused: the start time from /proc must match too).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::drone {

struct RunningEntry {
  std::string key;          // InstanceKey::ToString(), for the log
  pid_t pid = 0;
  pid_t pgid = 0;
  uint64_t start_time = 0;  // /proc/PID/stat field 22
  // Processes of the instance outside its group (setsid, double fork):
  // pid and start time. pid may be 0 when only these are left.
  std::vector<std::pair<pid_t, uint64_t>> others;
};

std::string EncodeState(const std::vector<RunningEntry>& entries);
Result<std::vector<RunningEntry>> DecodeState(const std::string& text);

// Atomic: written to PATH.tmp, fsynced, renamed over PATH.
Status WriteStateFile(const std::string& path, const std::vector<RunningEntry>& entries);
// A missing file is an empty list.
Result<std::vector<RunningEntry>> ReadStateFile(const std::string& path);

// For each entry whose pid is still the same process (same start time):
// SIGTERM to its group (and to each of `others` that is still the same
// process, and its group if it leads one), SIGKILL after `term_timeout_ms`, then waits (a
// little longer) until the group has no live member. Zombies count as gone:
// our owner thread reaps those that are our children. `say` gets one line
// per stopped or skipped entry. Returns how many groups were signalled.
// With `drone` set, every live process that names an entry's instance of
// `drone` (SKYPORT_* in /proc/PID/environ) is stopped the same way, whether
// or not its leader is still there.
int StopLeftovers(const std::vector<RunningEntry>& entries, int64_t term_timeout_ms,
                  const std::function<void(const std::string&)>& say, const std::string& drone = "");

}  // namespace skyport::drone
