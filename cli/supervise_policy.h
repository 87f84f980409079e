// The decisions of `register -- CMD`, kept pure so they can be tested without
// processes or a registry: what a KeepAlive outcome means, how often to send
// one, how a child's wait status becomes our exit code, the child's env.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::cli {

enum class LeaseAction {
  kKeep,     // the lease is alive: next KeepAlive after the interval
  kRenew,    // the lease is gone (registry lost or expired it): grant a new one, register again
  kRetry,    // transient or unexpected failure: retry with backoff while CMD runs
};
LeaseAction OnKeepAlive(const Status& status);

// ttl/3 so that two KeepAlives may be lost before the lease expires; at least
// 200 ms so a tiny TTL cannot spin.
int64_t KeepAliveIntervalMs(uint32_t ttl_seconds);

// exit code for a waitpid() status: the exit code, or 128+signal.
int ExitCodeFromWaitStatus(int wait_status);

// `inherited` ("K=V" entries) with every key in `set` replaced or added.
std::vector<std::string> ChildEnv(const std::vector<std::string>& inherited,
                                  const std::map<std::string, std::string>& set);

}  // namespace skyport::cli
