// One cgroup v2 per app instance, so that everything an instance starts
// (double-forked, setsid daemons included) is found and stopped with it:
// cgroup.kill, as systemd does for a unit. The drone's cgroups live under
// OWN/skyport-drone.<hash of the data dir>, OWN being the drone's own
// cgroup (with systemd: the unit's, which needs Delegate=yes); one tree per
// data dir, so a restarted drone finds (and kills) what its previous run
// left. cpu.max / memory.max are written where those controllers are
// available.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::drone {

// The mount point of the cgroup2 file system in /proc/self/mountinfo text
// (nullopt: none). Pure.
std::optional<std::string> ParseCgroup2Mount(std::string_view mountinfo);
// The "0::PATH" line of /proc/self/cgroup text (nullopt: none). Pure.
std::optional<std::string> ParseOwnCgroup(std::string_view proc_self_cgroup);
// cpu.max for `cpus` CPUs ("50000 100000" for 0.5); "max 100000" for 0. Pure.
std::string CpuMaxValue(double cpus);

struct CgroupLimits {
  double cpus = 0;         // 0: no cpu.max
  uint64_t memory_mb = 0;  // 0: no memory.max
};

class CgroupTree {
 public:
  // The drone's tree for `data_dir` (made when the first instance needs it,
  // removed on a clean shutdown); UNAVAILABLE when
  // there is no writable cgroup v2 (not root, no delegation, cgroup v1 only).
  static Result<std::unique_ptr<CgroupTree>> Open(const std::string& data_dir);

  const std::string& base() const { return base_; }
  bool has_cpu() const { return cpu_; }
  bool has_memory() const { return memory_; }

  // Makes BASE/NAME (kills and reuses one left from before) and writes the
  // limits. Returns its path.
  Result<std::string> Create(const std::string& name, const CgroupLimits& limits);
  // Opens DIR/cgroup.procs for a child to write itself into (close-on-exec).
  static Result<int> OpenProcs(const std::string& dir);
  // Processes in the cgroup or below (from cgroup.procs, recursively).
  static std::vector<pid_t> Members(const std::string& dir);
  // False once nothing in the cgroup is alive ("populated 0").
  static bool Populated(const std::string& dir);
  static void Signal(const std::string& dir, int sig);
  // cgroup.kill (SIGKILL to every member, forks included); by pid before
  // Linux 5.14.
  static void Kill(const std::string& dir);
  // rmdir; an error while members live.
  static Status Remove(const std::string& dir);
  // Kills and removes every instance cgroup in the tree (start-up: what a
  // previous run left). Returns the names it found populated.
  std::vector<std::string> KillLeftovers();

 private:
  Status EnsureBase();  // BASE itself, with the controllers enabled for its children

  std::string base_;
  bool cpu_ = false, memory_ = false;
};

}  // namespace skyport::drone
