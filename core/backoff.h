// Exponential backoff with jitter. Pure: the caller passes the attempt number
// and a uniform random value in [0,1).
#pragma once

#include <cstdint>

namespace skyport {

struct BackoffPolicy {
  int64_t initial_ms = 100;
  int64_t max_ms = 10'000;
  double multiplier = 2.0;
  double jitter = 0.2;  // +-fraction of the delay
};

// Loops that wait for a peer daemon to come back (a watch stream, lease
// keep-alives, the drone's hub stream, route writes). Small on purpose: a
// daemon must follow again within 1 s of its peer's return whatever the
// outage length, and the channel's own reconnect backoff (rpc::Dial) is
// bounded the same way. A call that waits for the connection
// (rpc::PrepareContext `wait_for_peer`) is what keeps these loops from
// spinning while the peer is away.
inline constexpr BackoffPolicy kReconnectBackoff{100, 500, 2.0, 0.2};

// Delay before retry number `attempt` (0 = first retry). Always within
// [0, max_ms * (1 + jitter)].
int64_t BackoffDelayMs(const BackoffPolicy& policy, int attempt, double uniform01);

}  // namespace skyport
