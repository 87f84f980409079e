#include "contract/arm_stats.h"

#include <algorithm>
#include <map>
#include <string>

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

json ArmStatsJson(const Counters& c, uint64_t last_minute) {
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
    for (const auto& [commit, arm] : arms) out_arms[commit] = ArmStatsJson(arm.c, arm.last_minute);
    out_apps[app] = json{{"arms", std::move(out_arms)}};
  }
  return json{{"window_seconds", window}, {"unix_s", unix_s}, {"routers", docs.size()}, {"apps", std::move(out_apps)}};
}

}  // namespace skyport::router
