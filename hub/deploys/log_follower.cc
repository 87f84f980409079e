#include "hub/deploys/log_follower.h"

#include <fmt/format.h>

namespace skyport::hub {

size_t LogFollowerQueue::Cost(const v1::DroneMessage& msg) {
  constexpr size_t kOverhead = 128;  // the Item, the deque slot, the message's own fields
  if (!msg.has_log()) return kOverhead;
  const v1::LogLine& l = msg.log();
  return kOverhead + l.text().size() + l.commit().size() + l.role().size() + l.stream().size() + l.drone().size();
}

bool LogFollowerQueue::Push(const std::string& drone, const v1::DroneMessage& msg) {
  const size_t cost = Cost(msg);
  {
    std::lock_guard lock(mu_);
    if (msg.has_log() && bytes_ + cost > max_bytes_) {
      ++dropped_;
      // One marker per run of dropped lines, where they would have been.
      if (q_.empty() || q_.back().skipped == 0) {
        q_.push_back(Item{drone, {}, 0});
        bytes_ += Cost(v1::DroneMessage());
      }
      ++q_.back().skipped;
      return false;
    }
    q_.push_back(Item{drone, msg, 0});
    bytes_ += cost;
  }
  cv_.notify_one();
  return true;
}

std::optional<LogFollowerQueue::Item> LogFollowerQueue::Pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return std::nullopt;
  Item item = std::move(q_.front());
  q_.pop_front();
  bytes_ -= item.skipped > 0 ? Cost(v1::DroneMessage()) : Cost(item.msg);
  return item;
}

size_t LogFollowerQueue::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

uint64_t LogFollowerQueue::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

v1::LogLine LogFollowerQueue::Marker(uint64_t skipped) {
  v1::LogLine l;
  l.set_stream("skyport");
  l.set_role("skyport");
  l.set_text(fmt::format("-- {} lines skipped: this client read slower than the app wrote "
                         "(hub --logs-follower-max-kb) --",
                         skipped));
  return l;
}

}  // namespace skyport::hub
