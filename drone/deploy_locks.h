// One lock and one abort switch per deployment (app@commit): a deploy, a
// stop and a port-clash move of the same deployment run one at a time, and
// a stop first flips the switch so that a deploy in flight gives up at once.
// Entries live as long as the drone (one per deployment ever seen).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace skyport::drone {

class DeployLocks {
 public:
  std::mutex& Lock(const std::string& app, const std::string& commit) {
    std::lock_guard lock(mu_);
    auto& m = locks_[app + "@" + commit];
    if (!m) m = std::make_unique<std::mutex>();
    return *m;
  }
  std::shared_ptr<std::atomic<bool>> Cancel(const std::string& app, const std::string& commit) {
    std::lock_guard lock(mu_);
    auto& f = cancels_[app + "@" + commit];
    if (!f) f = std::make_shared<std::atomic<bool>>(false);
    return f;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> locks_;              // guarded by mu_
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> cancels_;     // guarded by mu_
};

}  // namespace skyport::drone
