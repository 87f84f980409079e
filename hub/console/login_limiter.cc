#include "hub/console/login_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

namespace skyport::hub::console {

namespace {
constexpr char kShared[] = "*";

std::string V4Key(const unsigned char* b) {
  if (b[0] == 127) return "127.0.0.0/8";
  char out[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, b, out, sizeof out);
  return out;
}
}  // namespace

std::string LoginLimiterKey(const std::string& address) {
  unsigned char b[16] = {};
  if (::inet_pton(AF_INET, address.c_str(), b) == 1) return V4Key(b);
  if (::inet_pton(AF_INET6, address.c_str(), b) != 1) return address;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, b)) return V4Key(b + 12);
  unsigned char net[16] = {};
  std::copy(b, b + 8, net);
  char out[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, net, out, sizeof out);
  return std::string(out) + "/64";
}

std::string LoginLimiter::KeyLocked(const std::string& address) {
  if (failures_.count(address)) return address;
  if (failures_.size() < limits_.max_addresses) return address;
  return kShared;
}

void LoginLimiter::DropOldLocked(std::deque<int64_t>& times, int64_t now_ms) const {
  while (!times.empty() && now_ms - times.front() >= limits_.window_ms) times.pop_front();
}

void LoginLimiter::PruneLocked(int64_t now_ms) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    DropOldLocked(it->second, now_ms);
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
}

bool LoginLimiter::Allowed(const std::string& address, int64_t now_ms) { return RetryAfterMs(address, now_ms) == 0; }

int64_t LoginLimiter::RetryAfterMs(const std::string& address, int64_t now_ms) {
  auto check = [&](const std::string& key) -> int64_t {
    auto it = failures_.find(key);
    if (it == failures_.end()) return 0;
    DropOldLocked(it->second, now_ms);
    if (static_cast<int>(it->second.size()) < limits_.max_failures) return 0;
    return std::max<int64_t>(1, it->second.front() + limits_.window_ms - now_ms);
  };
  int64_t own = check(address);
  // An address without its own entry while the table is full shares the overflow bucket.
  if (!failures_.count(address) && failures_.size() >= limits_.max_addresses) own = std::max(own, check(kShared));
  return own;
}

void LoginLimiter::Failed(const std::string& address, int64_t now_ms) {
  if (!failures_.count(address) && failures_.size() >= limits_.max_addresses) PruneLocked(now_ms);
  auto& times = failures_[KeyLocked(address)];
  DropOldLocked(times, now_ms);
  times.push_back(now_ms);
  // A bucket never needs more entries than the bound to decide.
  while (static_cast<int>(times.size()) > std::max(1, limits_.max_failures)) times.pop_front();
}

}  // namespace skyport::hub::console
