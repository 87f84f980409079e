// Starting an app process: `/bin/sh -c COMMAND` in a process group of its
// own, its stdout and stderr on pipes that we read.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "drone/child_setup.h"

namespace skyport::drone {

struct SpawnRequest {
  std::string command;                     // run as /bin/sh -c COMMAND
  std::string cwd;                         // "": the drone's cwd
  std::vector<std::string> env;            // "K=V": the whole environment (nothing of the drone's)
  ChildSetup setup;                        // cgroup, rlimits, nice, user: applied before exec
  int cgroup_procs_fd = -1;                // the child writes itself into it; -1: no cgroup
};

struct Spawned {
  pid_t pid = 0;       // also the pgid: the child leads a new process group
  int stdout_fd = -1;  // read ends, non-blocking and close-on-exec; the caller closes them
  int stderr_fd = -1;
};

// Forks and execs. The child leads a new process group (setpgid), joins
// the cgroup, applies `setup` (core of drone/child_setup.h), reads
// stdin from /dev/null, inherits no fd >= 3 (all marked close-on-exec),
// and starts with default signal dispositions and an empty signal mask.
// There is no PR_SET_PDEATHSIG: the drone may restart without taking its
// apps down; the next drone stops them through the state file.
// Errors (a missing cwd, a failed exec) are reported as values, through a
// close-on-exec pipe from the child; the failed child is reaped here.
Result<Spawned> SpawnShell(const SpawnRequest& req);

}  // namespace skyport::drone
