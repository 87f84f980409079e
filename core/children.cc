#include "core/children.h"

#include <mutex>
#include <set>

namespace skyport::children {
namespace {

std::mutex mu;
std::set<pid_t>& Claimed() {
  static std::set<pid_t> s;
  return s;
}

}  // namespace

void Claim(pid_t pid) {
  std::lock_guard lock(mu);
  Claimed().insert(pid);
}

void Release(pid_t pid) {
  std::lock_guard lock(mu);
  Claimed().erase(pid);
}

bool IsClaimed(pid_t pid) {
  std::lock_guard lock(mu);
  return Claimed().count(pid) > 0;
}

bool AnyClaimed() {
  std::lock_guard lock(mu);
  return !Claimed().empty();
}

}  // namespace skyport::children
