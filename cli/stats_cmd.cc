// skyport stats: ask every router for /stats and the hub for the experiment
// rows, all at once; merge, compare, print.
#include "cli/stats_cmd.h"

#include <iostream>
#include <memory>
#include <map>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command_table.h"
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
    if (!gathered->hub_answered_by.empty()) doc["answered_by"] = gathered->hub_answered_by;  // the hub's numbers
    std::cout << doc.dump(2) << std::endl;
    return kExitOk;
  }
  if (routers) std::cout << RenderStatsTable(*routers, o.app, weights);
  if (routers && experiment) std::cout << "\n";
  if (experiment) std::cout << RenderExperimentTable(*experiment);
  std::cout << std::flush;
  return kExitOk;
}

// ---- `skyport stats` in the command table (command_table.h)
namespace {

Runner DefineStats(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<StatsOptions>();
  cmd.add_option("app", o->app, "App")->required();
  cmd.add_option("--window", o->window_s, "Seconds of router history (the routers keep up to an hour)")
      ->capture_default_str();
  cmd.add_option("--router", o->routers, "Ask this router's admin HOST:PORT (repeatable; default: all registered)")
      ->allow_extra_args(false);
  cmd.add_option("--event", o->experiment.event, "Conversion/value event to compare (default: exposures only)");
  cmd.add_option("--flight", o->experiment.flight, "This flight's arms (default: traffic outside flights)");
  cmd.add_option("--by", o->experiment.by, "One experiment table per hour, day, week or month (default: one)");
  cmd.add_option("--since", o->experiment.since,
                 "Experiment range start: 24h, 7d, RFC 3339 time or date (default: all)");
  cmd.add_option("--control", o->experiment.control,
                 "Control arm (a prefix; default: highest weight in the route, else most users)");
  cmd.footer(
      "Sources that do not answer (routers, the hub) are named on stderr and left out; exits 1 only if\n"
      "neither answered. Experiment table: users, exposures and, with --event, conversion and mean per arm\n"
      "with their difference from control (95% CI, p), and a sample-ratio check against the route's weights.\n"
      "--json prints the merged /stats document with the hub's part under \"experiment\".");
  return [&g = ctx.global, o] { return RunStats(g, *o); };
}

constexpr CommandSpec kStatsCommands[] = {
    {"stats", "Per-commit traffic of APP from the routers, experiment stats from the hub", DefineStats},
};

}  // namespace

std::span<const CommandSpec> StatsCommands() { return kStatsCommands; }

}  // namespace skyport::cli
