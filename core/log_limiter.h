// At most one log line per interval for an event that can repeat at line
// rate (a bound that bites under attack must not flood the log). Pure: the
// caller passes the time. Not thread-safe: one per owner thread, or guard it.
#pragma once

#include <cstdint>

namespace skyport {

class LogLimiter {
 public:
  explicit LogLimiter(int64_t interval_ms = 10'000) : interval_ms_(interval_ms) {}

  // True when a line may be written at `now_ms`; then `*suppressed` is the
  // number of events held back since the last line written.
  bool Allow(int64_t now_ms, uint64_t* suppressed) {
    if (written_ && now_ms - last_ms_ < interval_ms_) {
      ++held_;
      return false;
    }
    written_ = true;
    last_ms_ = now_ms;
    *suppressed = held_;
    held_ = 0;
    return true;
  }

 private:
  int64_t interval_ms_;
  bool written_ = false;
  int64_t last_ms_ = 0;
  uint64_t held_ = 0;
};

}  // namespace skyport
