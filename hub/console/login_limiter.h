// Failed console logins per client address (hub/console/API.md): at most
// `max_failures` in any `window_ms`; beyond, the address is answered 429
// until its oldest failure leaves the window. Pure: time comes in as an
// argument. Not thread-safe: its owner guards it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

namespace skyport::hub::console {

struct LoginLimits {
  int max_failures = 5;
  int64_t window_ms = 60'000;
  // Addresses tracked at once; when full, failures of new addresses share
  // one bucket ("*"), so a flood of addresses cannot grow memory or escape.
  size_t max_addresses = 10'000;
};

// The limiter's key for a client address as the socket reports it: one key for
// all of 127.0.0.0/8 (a local guesser may bind any of its 16 million source
// addresses) and one per IPv6 /64 (what one host or LAN is usually given);
// other IPv4 addresses as they are (an IPv4-mapped IPv6 address as its IPv4).
// Not an address (a test's name): itself.
std::string LoginLimiterKey(const std::string& address);

class LoginLimiter {
 public:
  explicit LoginLimiter(LoginLimits limits = {}) : limits_(limits) {}

  // True when `address` may try a login at `now_ms`.
  bool Allowed(const std::string& address, int64_t now_ms);
  // Records a failed login of `address` at `now_ms`.
  void Failed(const std::string& address, int64_t now_ms);
  // Milliseconds until `address` may try again (0 = now).
  int64_t RetryAfterMs(const std::string& address, int64_t now_ms);

  size_t tracked() const { return failures_.size(); }

 private:
  std::string KeyLocked(const std::string& address);
  void DropOldLocked(std::deque<int64_t>& times, int64_t now_ms) const;
  void PruneLocked(int64_t now_ms);

  LoginLimits limits_;
  std::map<std::string, std::deque<int64_t>> failures_;
};

}  // namespace skyport::hub::console
