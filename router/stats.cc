#include "router/stats.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/prom_text.h"

namespace skyport::router {

using nlohmann::json;

// ---- Counters ----

void Counters::Record(int status, uint64_t latency_us, bool new_user) {
  ++requests;
  if (status >= 100 && status < 200)
    ++status_1xx;
  else if (status >= 200 && status < 300)
    ++status_2xx;
  else if (status >= 300 && status < 400)
    ++status_3xx;
  else if (status >= 400 && status < 500)
    ++status_4xx;
  else
    ++status_5xx;
  if (new_user) ++users_assigned;
  latency_sum_us += latency_us;
  ++latency[LatencyBucket(latency_us)];
}

void Counters::Merge(const Counters& o) {
  requests += o.requests;
  status_1xx += o.status_1xx;
  status_2xx += o.status_2xx;
  status_3xx += o.status_3xx;
  status_4xx += o.status_4xx;
  status_5xx += o.status_5xx;
  users_assigned += o.users_assigned;
  latency_sum_us += o.latency_sum_us;
  for (size_t i = 0; i < kLatencyBuckets; ++i) latency[i] += o.latency[i];
}

double Counters::QuantileUs(double q) const { return LatencyQuantileUs(latency, q); }

// ---- StatsStore ----

struct StatsStore::Series {
  struct Slot {
    int64_t second = INT64_MIN;  // which second the counters are of
    Counters c;
  };
  std::string app, commit;
  std::vector<Slot> ring;  // window slots, allocated on the first Add
  Counters total;          // since start, for Prometheus
};

namespace {

size_t SlotIndex(int64_t unix_s, int window) {
  int64_t r = unix_s % window;
  return static_cast<size_t>(r < 0 ? r + window : r);
}

json ArmJson(const Counters& c, uint64_t last_minute) {
  json counts = json::array();
  for (uint64_t n : c.latency) counts.push_back(n);
  const double mean = c.requests ? static_cast<double>(c.latency_sum_us) / static_cast<double>(c.requests) : 0.0;
  return json{{"requests", c.requests},
              {"status",
               {{"1xx", c.status_1xx}, {"2xx", c.status_2xx}, {"3xx", c.status_3xx}, {"4xx", c.status_4xx},
                {"5xx", c.status_5xx}}},
              {"users_assigned", c.users_assigned},
              {"requests_last_minute", last_minute},
              {"latency_sum_us", c.latency_sum_us},
              {"latency_us",
               {{"mean", mean}, {"p50", c.QuantileUs(0.5)}, {"p90", c.QuantileUs(0.9)}, {"p99", c.QuantileUs(0.99)}}},
              {"latency_histogram", {{"bounds_us", kLatencyBoundsUs}, {"counts", std::move(counts)}}}};
}

}  // namespace

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
  if (s.ring.empty()) s.ring.resize(static_cast<size_t>(window_));
  Series::Slot& slot = s.ring[SlotIndex(unix_s, window_)];
  if (slot.second > unix_s) return;  // the slot holds a newer second already
  if (slot.second < unix_s) slot = Series::Slot{unix_s, {}};
  slot.c.Merge(c);
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
    for (int64_t t = std::min(from, minute_from) + 1; t <= now_unix_s && !s.ring.empty(); ++t) {
      const Series::Slot& slot = s.ring[SlotIndex(t, window_)];
      if (slot.second != t) continue;
      if (t > from) sum.Merge(slot.c);
      if (t > minute_from) last_minute += slot.c.requests;
    }
    apps[key.first]["arms"][key.second] = ArmJson(sum, last_minute);
  }
  return json{{"window_seconds", window_s}, {"unix_s", now_unix_s}, {"apps", std::move(apps)}};
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

// ---- MergeStatsJson ----

namespace {

uint64_t U64(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(it->get<int64_t>(), 0));
  if (it->is_number_float()) return static_cast<uint64_t>(std::max(it->get<double>(), 0.0));
  return 0;
}

const json& Member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

Counters CountersFromArmJson(const json& arm) {
  Counters c;
  c.requests = U64(arm, "requests");
  const json& status = Member(arm, "status");
  c.status_1xx = U64(status, "1xx");
  c.status_2xx = U64(status, "2xx");
  c.status_3xx = U64(status, "3xx");
  c.status_4xx = U64(status, "4xx");
  c.status_5xx = U64(status, "5xx");
  c.users_assigned = U64(arm, "users_assigned");
  if (Member(arm, "latency_sum_us").is_number()) {
    c.latency_sum_us = U64(arm, "latency_sum_us");
  } else {
    const json& mean = Member(Member(arm, "latency_us"), "mean");
    if (mean.is_number()) c.latency_sum_us = static_cast<uint64_t>(std::max(mean.get<double>(), 0.0) * c.requests);
  }
  const json& counts = Member(Member(arm, "latency_histogram"), "counts");
  if (counts.is_array()) {
    for (size_t i = 0; i < kLatencyBuckets && i < counts.size(); ++i) {
      const json& n = counts[i];
      if (n.is_number_unsigned())
        c.latency[i] = n.get<uint64_t>();
      else if (n.is_number())
        c.latency[i] = static_cast<uint64_t>(std::max(n.get<double>(), 0.0));
    }
  }
  return c;
}

}  // namespace

json MergeStatsJson(const std::vector<json>& docs) {
  struct Arm {
    Counters c;
    uint64_t last_minute = 0;
  };
  std::map<std::string, std::map<std::string, Arm>> apps;
  uint64_t window = 0, unix_s = 0;
  for (const json& doc : docs) {
    window = std::max(window, U64(doc, "window_seconds"));
    unix_s = std::max(unix_s, U64(doc, "unix_s"));
    const json& doc_apps = Member(doc, "apps");
    if (!doc_apps.is_object()) continue;
    for (const auto& [app, app_doc] : doc_apps.items()) {
      auto& arms = apps[app];
      const json& doc_arms = Member(app_doc, "arms");
      if (!doc_arms.is_object()) continue;
      for (const auto& [commit, arm_doc] : doc_arms.items()) {
        Arm& arm = arms[commit];
        arm.c.Merge(CountersFromArmJson(arm_doc));
        arm.last_minute += U64(arm_doc, "requests_last_minute");
      }
    }
  }
  json out_apps = json::object();
  for (const auto& [app, arms] : apps) {
    json out_arms = json::object();
    for (const auto& [commit, arm] : arms) out_arms[commit] = ArmJson(arm.c, arm.last_minute);
    out_apps[app] = json{{"arms", std::move(out_arms)}};
  }
  return json{{"window_seconds", window}, {"unix_s", unix_s}, {"routers", docs.size()}, {"apps", std::move(out_apps)}};
}

}  // namespace skyport::router
