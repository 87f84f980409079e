#include "cli/experiment_looks.h"

#include <vector>

#include "cli/experiment_series.h"
#include "cli/hub_client.h"
#include "contract/time_buckets.h"

namespace skyport::cli {

void AddCumulative(const GlobalOptions& g, const v1::StatsQuery& query, ExperimentResult& result) {
  // Only the JSON shows it (the table has no room for a series): no queries for nothing.
  if (!g.json || query.by().empty() || query.event().empty() || g.hub.empty() || result.control.arm.empty()) return;
  auto granularity = router::ParseGranularity(query.by());
  if (!granularity) return;
  std::vector<int64_t> starts;
  for (const BucketResult& b : result.buckets) starts.push_back(b.bucket_unix_s);
  const auto ends = LookEnds(starts, *granularity, query.to_unix_s());
  if (ends.empty()) return;
  int code = 0;
  auto opts = ConnectOptionsOrReport(g, g.hub, code);
  if (!opts) return;
  auto hub = HubClient::Connect(*opts);
  if (!hub.ok()) return;
  v1::StatsQuery base = query;
  base.set_by("");
  // As GatherStats: a flight's rows are under its id; a name means the hub's latest flight of that name.
  if (!base.flight().empty() && base.flight().find('.') == std::string::npos) {
    auto st = (*hub)->FlightStatus(base.flight());
    if (st.ok() && st->app() == base.app()) base.set_flight(st->id());
  }
  std::vector<Look> looks;
  for (const auto& [start, end] : ends) {
    v1::StatsQuery q = base;
    q.set_to_unix_s(end);
    auto report = (*hub)->QueryStats(q);
    if (!report.ok()) break;
    looks.push_back({start, end, std::move(*report)});
  }
  result.cumulative = CumulativeJson(looks, result.control.arm);
}

}  // namespace skyport::cli
