#include "drone/reaper.h"

#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "core/children.h"
#include "core/proc_stat.h"

namespace skyport::drone {
namespace {

void ReapOwnLeaders(const std::function<std::vector<pid_t>()>& own,
                    const std::function<void(pid_t, int)>& on_exit) {
  std::vector<std::pair<pid_t, int>> exited;
  for (pid_t pid : own()) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) exited.emplace_back(pid, st);
  }
  for (auto [pid, st] : exited) on_exit(pid, st);
}

// A claimed zombie hides the others from waitid(P_ALL): reap ours and the
// unclaimed orphans one by one until its waiter has collected it.
void ReapAroundClaimed(const std::function<std::vector<pid_t>()>& own,
                       const std::function<void(pid_t, int)>& on_exit) {
  ReapOwnLeaders(own, on_exit);
  for (const auto& ps : ListProcesses()) {
    int st = 0;
    if (ps.ppid == getpid() && ps.state == 'Z' && !children::IsClaimed(ps.pid) &&
        waitpid(ps.pid, &st, WNOHANG) == ps.pid)
      on_exit(ps.pid, st);
  }
}

}  // namespace

void ReapChildren(bool all, const std::function<std::vector<pid_t>()>& own,
                  const std::function<void(pid_t pid, int wait_status)>& on_exit) {
  if (!all) {
    ReapOwnLeaders(own, on_exit);
    return;
  }
  for (;;) {
    // Peek first: a child claimed by another waiter keeps its status for that waiter.
    siginfo_t si{};
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) return;
    if (children::IsClaimed(si.si_pid)) {
      ReapAroundClaimed(own, on_exit);
      return;
    }
    int st = 0;
    if (waitpid(si.si_pid, &st, WNOHANG) != si.si_pid) return;
    on_exit(si.si_pid, st);
  }
}

}  // namespace skyport::drone
