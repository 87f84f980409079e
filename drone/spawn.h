// Starting an app process: `/bin/sh -c COMMAND` in a process group of its
// own, its stdout and stderr on pipes that we read.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::drone {

struct SpawnRequest {
  std::string command;                     // run as /bin/sh -c COMMAND
  std::string cwd;                         // "": the drone's cwd
  std::map<std::string, std::string> env;  // added to (or replacing in) the drone's environment
};

struct Spawned {
  pid_t pid = 0;       // also the pgid: the child leads a new process group
  int stdout_fd = -1;  // read ends, non-blocking and close-on-exec; the caller closes them
  int stderr_fd = -1;
};

// Forks and execs. The child leads a new process group (setpgid), reads
// stdin from /dev/null, inherits no fd >= 3 (all marked close-on-exec),
// and starts with default signal dispositions and an empty signal mask.
// There is no PR_SET_PDEATHSIG: the drone may restart without taking its
// apps down; the next drone stops them through the state file.
// Errors (a missing cwd, a failed exec) are reported as values, through a
// close-on-exec pipe from the child; the failed child is reaped here.
Result<Spawned> SpawnShell(const SpawnRequest& req);

// `inherited` ("K=V" entries) with every key of `set` replaced or added.
std::vector<std::string> MergeEnv(const std::vector<std::string>& inherited,
                                  const std::map<std::string, std::string>& set);

}  // namespace skyport::drone
