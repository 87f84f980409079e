#include "router/stats.h"

#include <algorithm>
#include <array>
#include <deque>

#include <fmt/format.h>

#include "core/prom_text.h"

namespace skyport::router {

using nlohmann::json;

// ---- StatsStore ----

struct StatsStore::Series {
  struct Slot {
    int64_t second = INT64_MIN;  // which second the counters are of
    Counters c;
  };
  std::string app, commit;
  // Only the seconds that had traffic, ascending, none older than the window
  // before the newest: an arm that served for one second costs one slot, not
  // a window of them (every deployed commit gets a series, and a router lives
  // through many deploys).
  std::deque<Slot> recent;
  Counters total;  // since start, for Prometheus
};

StatsStore::StatsStore(int window_seconds) : window_(std::max(window_seconds, 1)) {}

StatsStore::~StatsStore() = default;

uint32_t StatsStore::Intern(const std::string& app, const std::string& commit) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = ids_.try_emplace({app, commit}, static_cast<uint32_t>(series_.size()));
  if (inserted) {
    auto s = std::make_unique<Series>();
    s->app = app;
    s->commit = commit;
    series_.push_back(std::move(s));
  }
  return it->second;
}

void StatsStore::AddLocked(int64_t unix_s, uint32_t id, const Counters& c) {
  if (id >= series_.size()) return;
  Series& s = *series_[id];
  s.total.Merge(c);
  if (!s.recent.empty() && unix_s <= s.recent.back().second - window_) return;  // older than the window
  auto at = std::lower_bound(s.recent.begin(), s.recent.end(), unix_s,
                             [](const Series::Slot& slot, int64_t t) { return slot.second < t; });
  if (at == s.recent.end() || at->second != unix_s) at = s.recent.insert(at, Series::Slot{unix_s, {}});
  at->c.Merge(c);
  while (s.recent.front().second <= s.recent.back().second - window_) s.recent.pop_front();
}

void StatsStore::Add(int64_t unix_s, uint32_t id, const Counters& c) {
  std::lock_guard lock(mu_);
  AddLocked(unix_s, id, c);
}

void StatsStore::AddSecond(int64_t unix_s, const std::vector<uint32_t>& ids, const std::vector<Counters>& by_id) {
  std::lock_guard lock(mu_);
  for (uint32_t id : ids)
    if (id < by_id.size()) AddLocked(unix_s, id, by_id[id]);
}

json StatsStore::Json(std::string_view app_filter, int window_s, int64_t now_unix_s) const {
  window_s = std::clamp(window_s, 1, window_);
  const int minute = std::min(window_, 60);
  const int64_t from = now_unix_s - window_s;      // exclusive
  const int64_t minute_from = now_unix_s - minute;  // exclusive
  json apps = json::object();
  std::lock_guard lock(mu_);
  for (const auto& [key, id] : ids_) {
    if (!app_filter.empty() && key.first != app_filter) continue;
    const Series& s = *series_[id];
    Counters sum;
    uint64_t last_minute = 0;
    // Only the window's slots, and only those stamped with the second they
    // stand for: older (stale) and newer seconds read as zero.
    const int64_t oldest = std::min(from, minute_from);  // exclusive
    for (const Series::Slot& slot : s.recent) {
      const int64_t t = slot.second;
      if (t <= oldest || t > now_unix_s) continue;
      if (t > from) sum.Merge(slot.c);
      if (t > minute_from) last_minute += slot.c.requests;
    }
    apps[key.first]["arms"][key.second] = ArmStatsJson(sum, last_minute);
  }
  return json{{"window_seconds", window_s}, {"unix_s", now_unix_s}, {"apps", std::move(apps)}};
}

size_t StatsStore::SlotsHeld() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& s : series_) n += s->recent.size();
  return n;
}

std::string StatsStore::Prometheus() const {
  struct Row {
    std::string app, commit;
    Counters total;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, id] : ids_) rows.push_back({key.first, key.second, series_[id]->total});
  }
  PromText out;
  out.Family("skyport_router_requests_total", PromType::kCounter,
             "Requests proxied, by app, commit and status class.");
  for (const Row& r : rows) {
    const std::pair<const char*, uint64_t> codes[] = {{"1xx", r.total.status_1xx},
                                                      {"2xx", r.total.status_2xx},
                                                      {"3xx", r.total.status_3xx},
                                                      {"4xx", r.total.status_4xx},
                                                      {"5xx", r.total.status_5xx}};
    for (const auto& [code, n] : codes)
      out.Sample("skyport_router_requests_total", {{"app", r.app}, {"commit", r.commit}, {"code", code}}, n);
  }
  out.Family("skyport_router_users_assigned_total", PromType::kCounter,
             "Users dealt to an arm (first visits and re-deals).");
  for (const Row& r : rows)
    out.Sample("skyport_router_users_assigned_total", {{"app", r.app}, {"commit", r.commit}},
               r.total.users_assigned);
  out.Family("skyport_router_request_duration_seconds", PromType::kHistogram,
             "Time from request received to response sent.");
  std::array<double, kLatencyBoundsUs.size()> bounds_s;
  for (size_t i = 0; i < bounds_s.size(); ++i) bounds_s[i] = static_cast<double>(kLatencyBoundsUs[i]) / 1e6;
  for (const Row& r : rows)
    out.HistogramSeries("skyport_router_request_duration_seconds", {{"app", r.app}, {"commit", r.commit}}, bounds_s,
                        r.total.latency, static_cast<double>(r.total.latency_sum_us) / 1e6);
  return out.Take();
}

// ---- StatsShard ----

void StatsShard::HandOver() {
  if (!touched_.empty()) store_->AddSecond(second_, touched_, current_);
  for (uint32_t id : touched_) current_[id] = Counters{};
  touched_.clear();
}

void StatsShard::Record(int64_t unix_s, uint32_t id, int status, uint64_t latency_us, bool new_user) {
  Flush(unix_s);
  if (id >= current_.size()) current_.resize(static_cast<size_t>(id) + 1);
  Counters& c = current_[id];
  if (c.empty()) touched_.push_back(id);
  c.Record(status, latency_us, new_user);
}

void StatsShard::Flush(int64_t unix_s) {
  if (unix_s <= second_) return;
  HandOver();
  second_ = unix_s;
}

}  // namespace skyport::router
