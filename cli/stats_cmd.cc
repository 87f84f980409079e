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
#include "cli/experiment_looks.h"
#include "cli/experiment_table.h"
#include "cli/stats_fetch.h"
#include "cli/stats_table.h"
#include "core/clock.h"

namespace skyport::cli {
StatsComputed ComputeStats(const GlobalOptions& g, const StatsOptions& o) {
  StatsComputed out;
  auto usage = [&g](const Status& s) { return g.quiet ? kExitUsage : ReportUsage(s); };
  if (Status s = CheckStatsOptions(o); !s.ok()) {
    out.code = usage(s);
    out.status = s;
    return out;
  }
  auto query = MakeStatsQuery(o.app, o.experiment, SystemClock::Get()->WallMs() / 1000);
  if (!query.ok()) {
    out.code = usage(query.status());
    out.status = query.status();
    return out;
  }
  out.gathered = GatherStats(g, o, *query, out.code);
  if (!out.gathered) {
    out.status = Status::InvalidArgument("stats: cannot connect (bad flags or token)");
    return out;
  }
  const auto& report = out.gathered->report;
  if (!out.gathered->routers && !report) {
    out.code = kExitFailure;
    out.status = Status::Unavailable("stats " + o.app + ": neither the routers nor the hub answered");
    return out;
  }
  if (report) {
    const auto& weights = out.gathered->weights;
    const auto& experiment_weights = o.experiment.flight.empty() ? weights : std::map<std::string, uint32_t>{};
    auto control = ChooseControl(*report, experiment_weights, o.experiment.control);
    if (!control.ok()) {
      out.code = usage(control.status());
      out.status = control.status();
      return out;
    }
    out.experiment = AnalyzeExperiment(*query, *report, experiment_weights, *control);
    AddCumulative(g, *query, *out.experiment);  // the lift and sequential p over time (--by with --event)
  }
  return out;
}

nlohmann::json StatsJsonDoc(const StatsComputed& c) {
  nlohmann::json doc = c.gathered->routers ? *c.gathered->routers : nlohmann::json::object();
  if (c.experiment) doc["experiment"] = ExperimentJson(*c.experiment);
  if (!c.gathered->hub_answered_by.empty()) doc["answered_by"] = c.gathered->hub_answered_by;  // the hub's numbers
  return doc;
}

int RunStats(const GlobalOptions& g, const StatsOptions& o) {
  StatsComputed c = ComputeStats(g, o);
  if (!c.status.ok() && c.code == kExitFailure && c.gathered) {  // neither source answered
    if (c.gathered->router_problem) PrintSourceProblem(*c.gathered->router_problem, false);
    if (c.gathered->hub_problem) PrintSourceProblem(*c.gathered->hub_problem, false);
    return kExitFailure;
  }
  if (!c.status.ok()) return c.code;
  if (c.gathered->router_problem) PrintSourceProblem(*c.gathered->router_problem, true);
  if (c.gathered->hub_problem) PrintSourceProblem(*c.gathered->hub_problem, true);

  if (g.json) {
    std::cout << StatsJsonDoc(c).dump(2) << std::endl;
    return kExitOk;
  }
  const auto& routers = c.gathered->routers;
  if (routers) std::cout << RenderStatsTable(*routers, o.app, c.gathered->weights);
  if (routers && c.experiment) std::cout << "\n";
  if (c.experiment) std::cout << RenderExperimentTable(*c.experiment);
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
      "--json prints the merged /stats document with the hub's part under \"experiment\"; with --by and --event\n"
      "also \"cumulative\": per bucket, the lift over all data up to its end and the gates' sequential p-value.");
  return [&g = ctx.global, o] { return RunStats(g, *o); };
}

constexpr CommandSpec kStatsCommands[] = {
    {"stats", "Per-commit traffic of APP from the routers, experiment stats from the hub", DefineStats},
};

}  // namespace

std::span<const CommandSpec> StatsCommands() { return kStatsCommands; }

}  // namespace skyport::cli
