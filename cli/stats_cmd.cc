// skyport stats: ask every router for /stats and the hub for the experiment
// rows, all at once; merge, compare, print.
#include "cli/stats_cmd.h"

#include <iostream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "cli/errors.h"
#include "cli/experiment_table.h"
#include "cli/stats_fetch.h"
#include "cli/stats_table.h"
#include "core/clock.h"

namespace skyport::cli {
int RunStats(const GlobalOptions& g, const StatsOptions& o) {
  if (Status s = CheckStatsOptions(o); !s.ok()) return ReportUsage(s);
  auto query = MakeStatsQuery(o.app, o.experiment, SystemClock::Get()->WallMs() / 1000);
  if (!query.ok()) return ReportUsage(query.status());
  int code = kExitOk;
  auto gathered = GatherStats(g, o, *query, code);
  if (!gathered) return code;
  auto& routers = gathered->routers;
  auto& report = gathered->report;
  const auto& weights = gathered->weights;
  if (!routers && !report) {
    if (gathered->router_problem) PrintSourceProblem(*gathered->router_problem, false);
    if (gathered->hub_problem) PrintSourceProblem(*gathered->hub_problem, false);
    return kExitFailure;
  }

  std::optional<ExperimentResult> experiment;
  if (report) {
    const auto& experiment_weights = o.experiment.flight.empty() ? weights : std::map<std::string, uint32_t>{};
    auto control = ChooseControl(*report, experiment_weights, o.experiment.control);
    if (!control.ok()) return ReportUsage(control.status());
    experiment = AnalyzeExperiment(*query, *report, experiment_weights, *control);
  }
  if (gathered->router_problem) PrintSourceProblem(*gathered->router_problem, true);
  if (gathered->hub_problem) PrintSourceProblem(*gathered->hub_problem, true);

  if (g.json) {
    nlohmann::json doc = routers ? std::move(*routers) : nlohmann::json::object();
    if (experiment) doc["experiment"] = ExperimentJson(*experiment);
    std::cout << doc.dump(2) << std::endl;
    return kExitOk;
  }
  if (routers) std::cout << RenderStatsTable(*routers, o.app, weights);
  if (routers && experiment) std::cout << "\n";
  if (experiment) std::cout << RenderExperimentTable(*experiment);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace skyport::cli
