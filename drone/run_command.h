// Runs a build step to completion: /bin/sh -c COMMAND in DIR, in its own
// process group, output captured (last `keep_bytes`), killed with its whole
// group when it overruns `timeout_ms`. `env` is its whole environment
// (nothing of the drone's is inherited); `setup` is applied in the child
// before exec (rlimits, nice, the app user).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/status.h"
#include "drone/child_setup.h"

namespace skyport::drone {

struct CommandResult {
  int exit_code = -1;    // 128+N when killed by signal N
  bool timed_out = false;
  bool cancelled = false;  // `cancelled()` said so: killed with its group
  std::string output;    // stdout and stderr, interleaved, the tail only
};

// `cancelled` (polled every 100 ms) aborts it like a timeout; `on_start`
// gets the pid (also its group) once it runs.
Result<CommandResult> RunCommand(const std::string& command, const std::string& dir,
                                 const std::map<std::string, std::string>& env, int64_t timeout_ms,
                                 size_t keep_bytes = 4096, const ChildSetup& setup = {},
                                 const std::function<bool()>& cancelled = {},
                                 const std::function<void(pid_t)>& on_start = {});

}  // namespace skyport::drone
