// Everything one instance started, beyond its process group: its cgroup
// when the drone has cgroup v2 (drone/cgroup.h), else the processes found
// by /proc (descendants of the group, orphans adopted by the drone whose
// environment names the instance). A stop signals all of it and is done
// only once all of it is gone; what escaped the group is logged (pid,
// command line). Owner thread of the supervisor only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace skyport::drone {

class InstanceTracker {
 public:
  void set_cgroup(std::string dir) { cgroup_ = std::move(dir); }
  const std::string& cgroup() const { return cgroup_; }
  // pid -> start time (/proc/PID/stat field 22) of processes outside the group.
  const std::map<pid_t, uint64_t>& tracked() const { return tracked_; }

  // Adds one process (an adopted orphan); false if already known.
  bool Track(pid_t pid, uint64_t start_time);
  // Finds what the group (`pgid`, leader `leader`, 0s when gone) and the
  // tracked processes started, from one /proc scan; new finds are tracked
  // and logged as escaped under `instance`. Returns how many were new.
  int Refresh(pid_t leader, pid_t pgid, const std::string& instance);
  // Sends `sig` to the cgroup's members (SIGKILL: cgroup.kill) and to every
  // tracked process that is still the same process. The group itself is the
  // caller's.
  void Signal(int sig);
  // True when nothing outside the group is alive (cgroup unpopulated, no
  // tracked process left). Forgets tracked processes that are gone.
  bool Gone();
  // Stops everything that is left (SIGKILL) and removes the cgroup: at the
  // end of a stop.
  void Release();

 private:
  std::string cgroup_;
  std::map<pid_t, uint64_t> tracked_;
};

// An unknown child of the drone: an orphan the kernel reparented to it.
struct Adopted {
  pid_t pid = 0;
  uint64_t start_time = 0;
  std::string instance;  // from its environment ("" = unknown): what it claims, see uid
  uid_t uid = 0;         // its effective uid (owner of /proc/PID): with a uid per app, the claim must match
  bool in_cgroup = false;  // inside `cgroup_base`: its cgroup holds it already
  bool seen_before = false;  // also on the previous scan (a fresh fork of the drone is claimed by then)
  std::string cmdline;
};

// Children of the drone that are not in `known`, not claimed
// (core/children.h) and not zombies. Only one `seen_before` may be killed:
// a child the drone has just forked is claimed or recorded within kSettleMs.
class OrphanScanner {
 public:
  explicit OrphanScanner(std::string drone_name, std::string cgroup_base)
      : drone_(std::move(drone_name)), cgroup_base_(std::move(cgroup_base)) {}
  // `now_ms`: monotonic; `seen_before` needs a sighting at least
  // kSettleMs earlier.
  std::vector<Adopted> Scan(const std::set<pid_t>& known, int64_t now_ms);
  static constexpr int64_t kSettleMs = 100;

 private:
  std::string drone_, cgroup_base_;
  struct Sighting {
    uint64_t start_time;
    int64_t first_ms;
  };
  std::map<pid_t, Sighting> seen_;   // first sighting (a pid is a process with its start time)
  std::map<pid_t, uint64_t> quiet_;  // in one of our cgroups: not reported again
};

// "pid 123 (python3 daemon.py)" for the log.
std::string DescribeProcess(pid_t pid);

}  // namespace skyport::drone
