// Starting and probing the command that `register -- CMD` supervises.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::cli {

// Starts argv (argv[0] searched in PATH, no shell) with exactly `env`
// ("K=V" entries) as its environment. The child:
//  - leads a new process group (pgid == pid), so the group can be signalled;
//  - gets SIGKILL when this thread dies (PR_SET_PDEATHSIG), even on kill -9,
//    and exits at once if we already died before it could ask;
//  - inherits no fd >= 3 (all are marked close-on-exec);
//  - starts with default signal dispositions and an empty signal mask.
// Returns the pid, or an error saying why argv[0] could not be executed (the
// child reports exec failures through a close-on-exec pipe).
Result<pid_t> SpawnInGroup(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env);

// Forks a small watchdog (no exec) that SIGKILLs process group `pgid` if
// this process dies without cleaning up, e.g. on kill -9: PR_SET_PDEATHSIG
// reaches only CMD itself, not the children CMD started, which would keep the
// port busy. It holds none of our fds. StopGuardian ends it when we are done.
Result<pid_t> SpawnGroupGuardian(pid_t pgid);
// SIGKILLs and reaps the guardian (unless `already_reaped`).
void StopGuardian(pid_t guardian, bool already_reaped);

// True when a TCP connection to host:port succeeds within `timeout_ms`.
bool AcceptsConnections(const std::string& host, uint32_t port, int timeout_ms);

// The current environment as "K=V" entries.
std::vector<std::string> CurrentEnv();

}  // namespace skyport::cli
