// Reaping without blocking, for the Supervisor's owner thread. The drone is
// a child subreaper: orphans of its apps come to it and must be reaped too,
// but a child claimed by its own waiter (core/children.h, e.g. a release
// step) keeps its exit status for that waiter.
#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

namespace skyport::drone {

// Reaps what has exited: with `all`, every child but the claimed ones; else
// only the pids `own()` lists (the instances' leaders, asked when needed).
// Each reaped pid goes to `on_exit` with its wait status (orphans too: it
// ignores what is not its own).
void ReapChildren(bool all, const std::function<std::vector<pid_t>()>& own,
                  const std::function<void(pid_t pid, int wait_status)>& on_exit);

}  // namespace skyport::drone
