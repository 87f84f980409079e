// `skyport gate APP --metric M`: one look at a flight-plan gate (contract/gates.h)
// on the data `skyport stats` gathers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/stats_cmd.h"

namespace skyport::cli {

// Exit codes of `skyport gate`, besides kExitUsage (2) for bad flags.
inline constexpr int kExitGatePass = 0;
inline constexpr int kExitGateFail = 1;  // also: the source the metric needs did not answer
inline constexpr int kExitGateWait = 3;

struct GateOptions {
  StatsOptions stats;  // app, --window, --router, --event, --flight, --since, --control
  std::string metric;
  std::string arm;  // the treatment or a prefix; "" = the only arm besides control
  std::string test;  // "" = the spec's default (sequential)
  std::optional<double> max_increase, alpha, tau_squared;
  std::optional<uint64_t> min_samples;
};

// Checks the flags as a flight gate step (hub::ParseGateSpec, errors naming the
// step's fields: max_increase for --max-increase, ...), asks the hub for its
// durable rows over the range (--flight, --since: StatsSink.Query; the
// routers are not asked, --window and --router do not matter) and the
// registry for the route's weights, picks the arms (ChooseGateArms) and
// evaluates once (previous_p = 1): error_rate and latency_p99 on the
// per-minute traffic rows, conversion and mean on the experiment rows.
// Prints "gate APP METRIC: PASS|FAIL|WAIT", the arms, the reason and every
// number; with --json {"app", "metric", "control", "treatment", "verdict",
// "reason", "numbers"}.
// Exit: 0 pass, 1 fail (or the hub did not answer), 3 wait, 2 usage.
int RunGate(const GlobalOptions& g, const GateOptions& o);

}  // namespace skyport::cli
