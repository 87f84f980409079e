// The decisions of `register -- CMD`, kept pure so they can be tested without
// processes: how a child's wait status becomes our exit code, the child's env.
// When to grant, keep alive and register is core/lease_keeper.h.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace skyport::cli {

// exit code for a waitpid() status: the exit code, or 128+signal.
int ExitCodeFromWaitStatus(int wait_status);

// `inherited` ("K=V" entries) with every key in `set` replaced or added, and
// every other SKYPORT_* variable dropped: the CLI's settings and secrets
// (SKYPORT_TOKEN, SKYPORT_TOKEN_FILE, ...) are not the command's, as the
// drone never passes them to its apps.
std::vector<std::string> ChildEnv(const std::vector<std::string>& inherited,
                                  const std::map<std::string, std::string>& set);

}  // namespace skyport::cli
