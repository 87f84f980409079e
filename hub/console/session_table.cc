#include "hub/console/session_table.h"

#include <algorithm>

namespace skyport::hub::console {

bool SessionTable::ExpiredLocked(const Session& s, int64_t now_ms) const {
  return now_ms - s.used_ms >= limits_.idle_ms || now_ms - s.created_ms >= limits_.absolute_ms;
}

void SessionTable::Create(const std::string& id, const std::string& csrf, int64_t now_ms) {
  if (sessions_.size() >= std::max<size_t>(1, limits_.max_sessions) && !sessions_.count(id)) {
    Sweep(now_ms);
    while (sessions_.size() >= std::max<size_t>(1, limits_.max_sessions)) {
      auto oldest = std::min_element(sessions_.begin(), sessions_.end(),
                                     [](const auto& a, const auto& b) { return a.second.used_ms < b.second.used_ms; });
      sessions_.erase(oldest);
      ++counters_.evicted;
    }
  }
  sessions_[id] = Session{csrf, now_ms, now_ms};
  ++counters_.created;
}

std::optional<std::string> SessionTable::Touch(const std::string& id, int64_t now_ms) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (ExpiredLocked(it->second, now_ms)) {
    sessions_.erase(it);
    ++counters_.expired;
    return std::nullopt;
  }
  it->second.used_ms = std::max(it->second.used_ms, now_ms);
  return it->second.csrf;
}

bool SessionTable::Remove(const std::string& id) {
  if (sessions_.erase(id) == 0) return false;
  ++counters_.logged_out;
  return true;
}

size_t SessionTable::Sweep(int64_t now_ms) {
  size_t n = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (ExpiredLocked(it->second, now_ms)) {
      it = sessions_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  counters_.expired += n;
  return n;
}

}  // namespace skyport::hub::console
