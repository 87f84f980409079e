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

// Delay before retry number `attempt` (0 = first retry). Always within
// [0, max_ms * (1 + jitter)].
int64_t BackoffDelayMs(const BackoffPolicy& policy, int attempt, double uniform01);

}  // namespace skyport
