// Finding every process an instance started when there is no cgroup to
// hold them: its process group, the descendants of its leader and of what
// was already found, and orphans the drone adopted (it is a child
// subreaper) whose environment names the instance. The pure parts take
// /proc snapshots as inputs.
#pragma once

#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/proc_stat.h"

namespace skyport::drone {

// `roots`, the live members of group `pgid` (0: none), and every live
// descendant of those in `procs`. Zombies are left out. Pure.
std::set<pid_t> Descendants(const std::vector<ProcStat>& procs, const std::set<pid_t>& roots, pid_t pgid);

// /proc/PID/environ text (NUL-separated K=V) as a map; at most `max_entries`. Pure.
std::map<std::string, std::string> ParseEnviron(std::string_view text, size_t max_entries = 4096);

// The instance an adopted orphan's environment names:
// "APP@COMMIT/ROLE.INSTANCE" from SKYPORT_{APP,COMMIT,ROLE,INSTANCE}, or
// "" when one is missing or SKYPORT_DRONE is not `drone`. Pure.
std::string InstanceFromEnviron(const std::map<std::string, std::string>& env, const std::string& drone);

// Children of this process (every thread's /proc/self/task/TID/children):
// after a double fork, the orphans the kernel gave us.
std::vector<pid_t> OwnChildren();
// Empty when unreadable (gone, or another user's).
std::string ReadEnviron(pid_t pid);
// The command line, NULs as spaces, at most 200 bytes: for the log.
std::string ReadCmdline(pid_t pid);

}  // namespace skyport::drone
