// skyport gate: ask the hub like `skyport stats`, then judge one gate.
#include "cli/gate_cmd.h"

#include <cctype>
#include <iostream>

#include <fmt/format.h>

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

}  // namespace skyport::cli
