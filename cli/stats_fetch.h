// What `skyport stats` and `skyport gate` gather: every router's /stats merged,
// the hub's experiment rows and the route config's weights, asked at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/experiment_table.h"
#include "cli/stats_cmd.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

// Why a source gave nothing: "skyport: [warning: ]MESSAGE" and a hint line.
struct SourceProblem {
  std::string message;
  std::string hint;  // "" or a whole "skyport: hint: ..." line
};
void PrintSourceProblem(const SourceProblem& p, bool warning);

struct GatheredStats {
  std::optional<nlohmann::json> routers;  // MergeStatsJson of the routers that answered
  std::optional<v1::StatsReport> report;  // the hub's rows for `query`
  std::string hub_answered_by;            // the hub that gave them (with --hub lists, which one)
  std::map<std::string, uint32_t> weights;  // the route config's; empty when unknown
  std::optional<SourceProblem> router_problem, hub_problem;
};

// APP a valid name, the window 1..86400 s, every --router HOST:PORT.
Status CheckStatsOptions(const StatsOptions& o);

// Asks the routers (o.routers, else those registered as skyport-router/admin)
// for /stats over o.window_s and, unless --hub is "", the hub for `query`,
// at the same time; then the registry for APP's route weights. A router that
// does not answer is named on stderr; a source with nothing is left empty with
// its problem. None, with `code` set, when a connection cannot even be made
// (bad flags, token).
// `ask_routers` false: only the hub and the weights (the gate).
std::optional<GatheredStats> GatherStats(const GlobalOptions& g, const StatsOptions& o, const v1::StatsQuery& query,
                                         int& code, bool ask_routers = true);

// What RunStats computes before printing (shared with the hub's console, GET
// /api/apps/APP/stats). `status` not ok: nothing to show, `code` the exit code
// (usage problems were printed; with both sources silent, `gathered` holds
// their problems).
struct StatsComputed {
  std::optional<GatheredStats> gathered;
  std::optional<ExperimentResult> experiment;
  Status status;
  int code = 0;
};
StatsComputed ComputeStats(const GlobalOptions& g, const StatsOptions& o);
// The --json document: the merged router /stats, the hub's part under
// "experiment", the answering hub under "answered_by".
nlohmann::json StatsJsonDoc(const StatsComputed& c);

}  // namespace skyport::cli
