#include "core/backoff.h"

#include <algorithm>
#include <cmath>

namespace skyport {

int64_t BackoffDelayMs(const BackoffPolicy& p, int attempt, double u) {
  double d = static_cast<double>(p.initial_ms);
  for (int i = 0; i < attempt && d < static_cast<double>(p.max_ms); ++i) d *= p.multiplier;
  d = std::min(d, static_cast<double>(p.max_ms));
  u = std::clamp(u, 0.0, 1.0);
  d *= 1.0 + p.jitter * (2.0 * u - 1.0);
  return std::max<int64_t>(0, std::llround(d));
}

}  // namespace skyport
