// skyport gate: ask the hub like `skyport stats`, then judge one gate.
#include "cli/gate_cmd.h"

#include <array>
#include <cctype>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command_table.h"
#include "cli/errors.h"
#include "cli/experiment_query.h"
#include "cli/gate_inputs.h"
#include "cli/stats_fetch.h"
#include "core/clock.h"
#include "contract/gates.h"

namespace skyport::cli {
namespace {

using nlohmann::json;

// The flags as a flight spec's gate step, so that both are checked alike.
json StepJson(const GateOptions& o) {
  json step = {{"action", "gate"}, {"metric", o.metric}};
  if (!o.arm.empty()) step["arm"] = o.arm;
  if (!o.stats.experiment.control.empty()) step["control"] = o.stats.experiment.control;
  if (!o.stats.experiment.event.empty()) step["event"] = o.stats.experiment.event;
  if (!o.test.empty()) step["test"] = o.test;
  if (o.max_increase) step["max_increase"] = *o.max_increase;
  if (o.alpha) step["alpha"] = *o.alpha;
  if (o.tau_squared) step["tau_squared"] = *o.tau_squared;
  if (o.min_samples) step["min_samples"] = *o.min_samples;
  return step;
}

// "  control.requests  1200" lines, keys in order.
void PrintNumbers(const json& j, const std::string& prefix) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object())
      PrintNumbers(value, name);
    else
      std::cout << fmt::format("  {:<28} {}\n", name, value.is_string() ? value.get<std::string>() : value.dump());
  }
}

int ExitCode(hub::GateVerdict::Kind kind) {
  switch (kind) {
    case hub::GateVerdict::kPass:
      return kExitGatePass;
    case hub::GateVerdict::kFail:
      return kExitGateFail;
    case hub::GateVerdict::kWait:
      break;
  }
  return kExitGateWait;
}

}  // namespace

int RunGate(const GlobalOptions& g, const GateOptions& o) {
  if (Status s = CheckStatsOptions(o.stats); !s.ok()) return ReportUsage(s);
  auto spec = hub::ParseGateSpec(StepJson(o));
  if (!spec.ok()) return ReportUsage(spec.status());
  auto query = MakeStatsQuery(o.stats.app, o.stats.experiment, SystemClock::Get()->WallMs() / 1000);
  if (!query.ok()) return ReportUsage(query.status());

  // Every metric is judged on the hub's durable rows (traffic per minute,
  // outcomes per hour) over the range: the routers are not asked.
  int code = kExitOk;
  auto gathered = GatherStats(g, o.stats, *query, code, /*ask_routers=*/false);
  if (!gathered) return code;
  if (!gathered->report) {
    if (gathered->hub_problem) PrintSourceProblem(*gathered->hub_problem, false);
    else std::cerr << "skyport: gate: no hub (--hub is empty)" << std::endl;
    return kExitGateFail;
  }
  const v1::StatsReport& report = *gathered->report;
  // Outside flights the route's weights say which arm is control; in a flight they do not.
  const auto weights = o.stats.experiment.flight.empty() ? gathered->weights : std::map<std::string, uint32_t>{};
  auto arms = ChooseGateArms(GateArmNames(json::object(), o.stats.app, report, weights), report, weights,
                             spec->control, spec->arm);
  if (!arms.ok()) return ReportUsage(arms.status());

  const hub::GateVerdict v =
      hub::EvaluateGate(*spec, hub::TrafficFromReport(report, arms->control), hub::TrafficFromReport(report, arms->treatment),
                        hub::OutcomeFromReport(report, arms->control), hub::OutcomeFromReport(report, arms->treatment));

  if (g.json) {
    json doc = {{"app", o.stats.app},      {"metric", spec->metric},       {"control", arms->control},
                {"treatment", arms->treatment}, {"verdict", hub::GateKindName(v.kind)}, {"reason", v.reason},
                {"numbers", v.numbers}};
    std::cout << doc.dump(2) << std::endl;
    return ExitCode(v.kind);
  }
  std::string verdict = hub::GateKindName(v.kind);
  for (char& c : verdict) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::cout << fmt::format("gate {} {}: {}\n", o.stats.app, spec->metric, verdict);
  std::cout << fmt::format("  treatment {} vs control {}\n", arms->treatment, arms->control);
  std::cout << "  " << v.reason << "\n";
  PrintNumbers(v.numbers, "");
  std::cout << std::flush;
  return ExitCode(v.kind);
}

// ---- `skyport gate` in the command table (command_table.h)
namespace {

Runner DefineGate(CLI::App& cmd, const CommandContext& ctx) {
  auto o = std::make_shared<GateOptions>();
  auto num = std::make_shared<std::array<double, 3>>();  // max_increase, alpha, tau_squared
  auto min_samples = std::make_shared<uint64_t>(0);
  cmd.add_option("app", o->stats.app, "App")->required();
  cmd.add_option("--metric", o->metric, "error_rate, latency_p99, conversion or mean")->required();
  cmd.add_option("--arm", o->arm, "Treatment arm (a prefix; default: the only arm besides control)");
  cmd.add_option("--control", o->stats.experiment.control,
                 "Control arm (a prefix; default: highest weight in the route, else most users)");
  cmd.add_option("--event", o->stats.experiment.event, "The event (conversion, mean)");
  auto* max_inc = cmd.add_option("--max-increase", (*num)[0],
                                 "error_rate: absolute (0.01 = +1 point); latency_p99: relative (0.2 = +20%)");
  auto* min_opt = cmd.add_option("--min-samples", *min_samples, "Wait until each arm has this many (default 100)");
  cmd.add_option("--test", o->test, "conversion, mean: sequential (default) or fixed");
  auto* alpha = cmd.add_option("--alpha", (*num)[1], "conversion, mean: significance level (default 0.05)");
  auto* tau = cmd.add_option("--tau-squared", (*num)[2], "sequential: mixing variance (default from the data)");
  cmd.add_option("--since", o->stats.experiment.since, "Hub data from: 24h, 7d, RFC 3339 time or date (default: all)");
  cmd.add_option("--flight", o->stats.experiment.flight, "This flight's arms (default: traffic outside flights)");
  cmd.add_option("--window", o->stats.window_s, "Ignored (kept for old scripts): the hub's rows cover --since")
      ->capture_default_str();
  cmd.add_option("--router", o->stats.routers, "Ignored (kept for old scripts): routers are not asked")
      ->allow_extra_args(false);
  cmd.footer(
      "Every metric uses the hub's durable rows over --since (all of --flight's by default): error_rate and\n"
      "latency_p99 the routers' per-minute request counters, conversion and mean the experiment rows.\n"
      "Exit: 0 pass, 1 fail (or the data source did not answer), 3 wait for more data, 2 usage.\n"
      "--json prints {app, metric, control, treatment, verdict, reason, numbers}.");
  return [&g = ctx.global, o, num, min_samples, max_inc, min_opt, alpha, tau] {
    if (max_inc->count()) o->max_increase = (*num)[0];
    if (alpha->count()) o->alpha = (*num)[1];
    if (tau->count()) o->tau_squared = (*num)[2];
    if (min_opt->count()) o->min_samples = *min_samples;
    return RunGate(g, *o);
  };
}

constexpr CommandSpec kGateCommands[] = {
    {"gate", "Judge a flight gate on APP: treatment vs control, pass/fail/wait", DefineGate},
};

}  // namespace

std::span<const CommandSpec> GateCommands() { return kGateCommands; }

}  // namespace skyport::cli
