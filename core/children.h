// Child processes whose exit status belongs to a particular waiter (e.g. a
// build step run with waitpid on its pid). A process-wide reaper (the
// drone's supervisor, a child subreaper) must not reap these: peek with
// waitid(..., WNOWAIT) and skip claimed pids.
#pragma once

#include <sys/types.h>

namespace skyport::children {

void Claim(pid_t pid);
void Release(pid_t pid);
bool IsClaimed(pid_t pid);
// True while any pid is claimed (e.g. a build step runs).
bool AnyClaimed();

}  // namespace skyport::children
