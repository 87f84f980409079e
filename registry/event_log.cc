#include "registry/event_log.h"

#include <algorithm>

namespace skyport::registry {

void EventLog::Trim(int64_t current) {
  const int64_t keep_after = current - history_;
  while (!events_.empty() && events_.front().revision() <= keep_after) {
    compacted_through_ = std::max(compacted_through_, events_.front().revision());
    events_.pop_front();
  }
}

std::optional<std::vector<v1::Event>> EventLog::Since(int64_t from, int64_t current) const {
  if (from > current || from < compacted_through_) return std::nullopt;
  auto it = std::upper_bound(events_.begin(), events_.end(), from,
                             [](int64_t rev, const v1::Event& e) { return rev < e.revision(); });
  return std::vector<v1::Event>(it, events_.end());
}

void EventLog::Restore(std::vector<v1::Event> events, int64_t compacted_through) {
  events_.assign(std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
  compacted_through_ = compacted_through;
}

}  // namespace skyport::registry
