#include <catch2/catch.hpp>

#include <cstdint>

#include "core/log_limiter.h"

namespace skyport {
namespace {

TEST_CASE("LogLimiter: one line per interval, counting what it held back", "[core][log]") {
  LogLimiter limiter(1000);
  uint64_t held = 99;
  CHECK(limiter.Allow(5000, &held));
  CHECK(held == 0);
  CHECK_FALSE(limiter.Allow(5001, &held));
  CHECK_FALSE(limiter.Allow(5999, &held));
  CHECK(limiter.Allow(6000, &held));
  CHECK(held == 2);
  CHECK(limiter.Allow(9000, &held));
  CHECK(held == 0);
}

}  // namespace
}  // namespace skyport
