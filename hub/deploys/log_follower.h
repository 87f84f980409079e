// What one `skyport logs` call has received from the drones and not yet
// written to its client. Bounded: a client that stops reading (a paused
// `logs -f`) while an app bursts would otherwise grow the hub without limit.
// When the queue is full, log lines are dropped and a marker takes their
// place, delivered in order ("-- N lines skipped --"), as `journalctl -f` and
// Nomad's log streaming do. Other answers (a drone's "done") are small and
// always kept. Thread-safe: drones' stream threads push, the call pops.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

class LogFollowerQueue {
 public:
  // A queued item: a drone's message, or (skipped > 0) the marker for the
  // log lines dropped at that point.
  struct Item {
    std::string drone;
    v1::DroneMessage msg;
    uint64_t skipped = 0;
  };

  explicit LogFollowerQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Never blocks. Returns false when the message was a log line and was dropped.
  bool Push(const std::string& drone, const v1::DroneMessage& msg);
  std::optional<Item> Pop(std::chrono::milliseconds timeout);

  size_t bytes() const;
  uint64_t dropped() const;  // log lines dropped so far

  // The line a client sees for a marker.
  static v1::LogLine Marker(uint64_t skipped);
  // Bytes a queued message is charged (its payload plus bookkeeping).
  static size_t Cost(const v1::DroneMessage& msg);

 private:
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> q_;     // GUARDED_BY(mu_)
  size_t bytes_ = 0;       // GUARDED_BY(mu_)
  uint64_t dropped_ = 0;   // GUARDED_BY(mu_)
};

}  // namespace skyport::hub
