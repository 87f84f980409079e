// What a forked app (or release step) child does to itself before exec, in
// this order: join its cgroup, set its rlimits (hard = soft, so the app
// cannot raise them), lower its priority, then drop to the app user
// (setgroups, setgid, setuid). Everything is prepared before fork;
// ApplyInChild makes async-signal-safe calls only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::drone {

struct AppUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary, from the group database
};

// NOT_FOUND for an unknown user; refuses root (uid 0): it would gain nothing.
Result<AppUser> LookupAppUser(const std::string& name);

struct AppLimits {
  uint64_t nofile = 0;  // RLIMIT_NOFILE; 0: unchanged
  uint64_t nproc = 0;   // RLIMIT_NPROC (per uid, threads count); 0: unchanged
  uint64_t as_mb = 0;   // RLIMIT_AS in MiB; 0: unchanged
  auto operator<=>(const AppLimits&) const = default;
};

struct ChildSetup {
  std::optional<AppUser> user;  // none: the drone's own user
  AppLimits limits;
  std::optional<int> nice;      // absolute nice value (-20..19)
};

// Steps ApplyInChild may fail at (index into ChildStepName).
enum ChildStep : int {
  kStepOk = 0,
  kStepCgroup,
  kStepNofile,
  kStepNproc,
  kStepAs,
  kStepNice,
  kStepSetgroups,
  kStepSetgid,
  kStepSetuid,
};
const char* ChildStepName(int step);

// Runs in the child between fork and exec. `cgroup_procs_fd`: an open
// cgroup.procs of the instance's cgroup (-1: none); "0" written to it moves
// the child, so everything it starts is in the cgroup too. Returns kStepOk
// or the failed step (errno says why).
int ApplyInChild(const ChildSetup& s, int cgroup_procs_fd);

// The nice value apps get: the drone's own plus `increment`, within -20..19.
int AppNice(int increment);

// Whether `user` could open `path` for reading by its mode bits, owner and
// group (an ACL is not considered), and every directory above it is
// searchable by the user. For the start-up check of the token file.
bool ReadableBy(const std::string& path, const AppUser& user);
// Whether `user` can enter `dir` (search bit on it and every directory above).
bool SearchableBy(const std::string& dir, const AppUser& user);

}  // namespace skyport::drone
