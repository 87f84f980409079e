// Log lines of the git listener's refusals, throttled per cause (moved out
// of git_http.cc unchanged).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace skyport::hub {

// At most one log line per cause every 10 s; the rest are counted in the next one.
class LogThrottle {
 public:
  // Returns how many were suppressed since the last line, or -1 to stay quiet.
  int64_t Allow(const std::string& cause, std::chrono::steady_clock::time_point now) {
    std::lock_guard<std::mutex> l(mu_);
    Slot& s = slots_[cause];
    if (s.logged && now - s.last < std::chrono::seconds(10)) {
      ++s.suppressed;
      return -1;
    }
    int64_t n = s.suppressed;
    s = Slot{now, 0, true};
    return n;
  }

 private:
  struct Slot {
    std::chrono::steady_clock::time_point last;
    int64_t suppressed = 0;
    bool logged = false;
  };
  std::mutex mu_;
  std::map<std::string, Slot> slots_;  // GUARDED_BY(mu_); a handful of fixed causes
};

}  // namespace skyport::hub
