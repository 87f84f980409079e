#include "router/traffic.h"

#include <cstring>

namespace skyport::router {

int64_t MinuteStart(int64_t unix_s) { return (unix_s / 60 - (unix_s % 60 < 0)) * 60; }

bool TrafficAggregator::Record(std::string_view app, std::string_view flight, std::string_view arm, int64_t unix_s,
                               int status, uint64_t latency_us) {
  if (app.empty() || arm.empty()) return false;
  const int64_t minute = MinuteStart(unix_s);
  if (last_ < rows_.size()) {
    TrafficRow& r = rows_[last_];
    if (r.minute_unix_s == minute && r.arm == arm && r.app == app && r.flight == flight) {
      r.counters.Record(status, latency_us, false);
      return true;
    }
  }
  key_buf_.assign(app).append(1, '\0').append(flight).append(1, '\0').append(arm).append(1, '\0');
  char m[sizeof minute];
  std::memcpy(m, &minute, sizeof minute);
  key_buf_.append(m, sizeof m);
  auto it = index_.find(key_buf_);
  if (it == index_.end()) {
    if (rows_.size() >= max_keys_) return false;
    it = index_.emplace(key_buf_, static_cast<uint32_t>(rows_.size())).first;
    rows_.push_back(TrafficRow{std::string(app), std::string(flight), std::string(arm), minute, {}});
  }
  last_ = it->second;
  rows_[last_].counters.Record(status, latency_us, false);
  return true;
}

void TrafficAggregator::Drain(std::vector<TrafficRow>& out) {
  for (TrafficRow& r : rows_) out.push_back(std::move(r));
  rows_.clear();
  index_.clear();
  last_ = SIZE_MAX;
}

}  // namespace skyport::router
