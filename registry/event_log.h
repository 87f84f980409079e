// The recent history of changes, so that a watcher that reconnects can resume
// from the last revision it saw instead of taking a whole snapshot.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

class EventLog {
 public:
  // Keeps the events of the last `history` revisions.
  explicit EventLog(int64_t history) : history_(history) {}

  // Events must arrive in non-decreasing revision order.
  void Append(const v1::Event& e) { events_.push_back(e); }
  // Drops revisions older than `current - history` (whole revisions only).
  void Trim(int64_t current);
  // Every event with revision > `from`, or nullopt when `from` cannot be
  // honoured (compacted away, or ahead of `current`): take a snapshot.
  std::optional<std::vector<v1::Event>> Since(int64_t from, int64_t current) const;
  // After a restart: the retained events and the highest revision dropped.
  void Restore(std::vector<v1::Event> events, int64_t compacted_through);

  int64_t compacted_through() const { return compacted_through_; }
  size_t size() const { return events_.size(); }

 private:
  int64_t history_;
  std::deque<v1::Event> events_;
  int64_t compacted_through_ = 0;
};

}  // namespace skyport::registry
