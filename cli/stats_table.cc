#include "cli/stats_table.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "cli/columns.h"

namespace skyport::cli {
namespace {

using nlohmann::json;

constexpr size_t kCommitWidth = 12;

uint64_t Count(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(it->get<int64_t>(), 0));
  return 0;
}

double Number(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : 0;
}

const json& Member(const json& obj, const std::string& key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

}  // namespace

std::vector<RouterTarget> RouterTargets(const std::vector<v1::Endpoint>& endpoints) {
  std::vector<RouterTarget> out;
  for (const auto& ep : endpoints) {
    std::string address = ep.host().find(':') != std::string::npos ? fmt::format("[{}]:{}", ep.host(), ep.port())
                                                                    : fmt::format("{}:{}", ep.host(), ep.port());
    auto name = ep.meta().find("name");
    out.push_back({name != ep.meta().end() && !name->second.empty() ? name->second : address, address});
  }
  std::sort(out.begin(), out.end(), [](const RouterTarget& a, const RouterTarget& b) {
    return std::tie(a.name, a.address) < std::tie(b.name, b.address);
  });
  return out;
}

std::string StatsPath(const std::string& app, int window_s) {
  // App names are [a-z0-9-]: nothing to escape.
  return fmt::format("/stats?app={}&window={}", app, window_s);
}

Result<nlohmann::json> StatsDocument(const AdminResponse& resp) {
  if (resp.status != 200) {
    std::string body = resp.body.substr(0, resp.body.find('\n'));
    if (body.size() > 200) body = body.substr(0, 200) + "...";
    return Status::Unavailable(body.empty() ? fmt::format("HTTP {}", resp.status)
                                            : fmt::format("HTTP {}: {}", resp.status, body));
  }
  json doc = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !Member(doc, "apps").is_object())
    return Status::Unavailable("not a /stats document (a JSON object with \"apps\")");
  return doc;
}

std::string RouterWarning(const RouterTarget& router, const Status& status) {
  std::string why = status.message();
  const std::string own = router.address + ": ";
  const std::string connect = "cannot connect to " + own;
  if (why.rfind(own, 0) == 0)
    why = why.substr(own.size());
  else if (why.rfind(connect, 0) == 0)
    why = "cannot connect: " + why.substr(connect.size());
  std::string who = router.name == router.address ? router.name : fmt::format("{} ({})", router.name, router.address);
  return fmt::format("skyport: warning: router {}: {}", who, why);
}

std::string RenderStatsTable(const nlohmann::json& merged, const std::string& app,
                             const std::map<std::string, uint32_t>& weights) {
  const json& arms = Member(Member(Member(merged, "apps"), app), "arms");
  std::set<std::string> commits;
  if (arms.is_object())
    for (const auto& [commit, _] : arms.items()) commits.insert(commit);
  for (const auto& [commit, _] : weights) commits.insert(commit);

  const uint64_t routers = Count(merged, "routers");
  std::string out = fmt::format("{}: last {}s, {} router{}\n", app, Count(merged, "window_seconds"), routers,
                                routers == 1 ? "" : "s");
  if (commits.empty()) return out + "no arms: no router has routed this app\n";

  const bool with_weight = !weights.empty();
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"COMMIT"});
  if (with_weight) rows.back().push_back("WEIGHT");
  for (const char* h : {"REQUESTS", "LAST-MIN", "2XX", "3XX", "4XX", "5XX", "ERR%", "P50-MS", "P99-MS", "USERS"})
    rows.back().push_back(h);
  for (const std::string& commit : commits) {
    const json& arm = Member(arms, commit);
    const json& status = Member(arm, "status");
    const json& latency = Member(arm, "latency_us");
    const uint64_t requests = Count(arm, "requests");
    std::vector<std::string> row = {commit.substr(0, kCommitWidth)};
    if (with_weight) {
      auto w = weights.find(commit);
      row.push_back(w == weights.end() ? "-" : std::to_string(w->second));
    }
    row.push_back(std::to_string(requests));
    row.push_back(std::to_string(Count(arm, "requests_last_minute")));
    for (const char* cls : {"2xx", "3xx", "4xx", "5xx"}) row.push_back(std::to_string(Count(status, cls)));
    if (requests == 0) {
      row.insert(row.end(), {"-", "-", "-"});
    } else {
      row.push_back(fmt::format("{:.2f}%", 100.0 * static_cast<double>(Count(status, "5xx")) /
                                               static_cast<double>(requests)));
      row.push_back(fmt::format("{:.1f}", Number(latency, "p50") / 1000));
      row.push_back(fmt::format("{:.1f}", Number(latency, "p99") / 1000));
    }
    row.push_back(std::to_string(Count(arm, "users_assigned")));
    rows.push_back(std::move(row));
  }
  return out + AlignColumns(rows);
}

}  // namespace skyport::cli
