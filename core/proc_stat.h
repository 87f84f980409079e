// What /proc says about a process: enough to tell whether a pid is still
// the process we started (its start time) and to find a group's members.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport {

struct ProcStat {
  pid_t pid = 0;
  char state = '?';         // 'R', 'S', 'Z', ...
  pid_t ppid = 0;
  pid_t pgid = 0;
  uint64_t start_time = 0;  // field 22: clock ticks after boot; with the pid, names a process for good
};

// Parses the text of /proc/PID/stat (the command name may hold spaces and
// parentheses, so fields are counted from the last ')').
Result<ProcStat> ParseProcStat(std::string_view text);
// NOT_FOUND when the process does not exist.
Result<ProcStat> ReadProcStat(pid_t pid);
// Every process in /proc (those that vanish while we look are skipped).
std::vector<ProcStat> ListProcesses();
// True when process group `pgid` has a member that is not a zombie. A
// zombie holds nothing (no port, no pipe), and one whose parent never
// reaps it would otherwise make a group look alive forever.
bool GroupHasLiveMembers(pid_t pgid);

}  // namespace skyport
