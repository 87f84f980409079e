// `skyport stats APP`: per-arm traffic statistics merged from the routers,
// and the experiment statistics the hub keeps.
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/experiment_query.h"

namespace skyport::cli {

struct StatsOptions {
  std::string app;
  int window_s = 3600;
  std::vector<std::string> routers;  // HOST:PORT; empty = the registered ones
  ExperimentOptions experiment;      // --event, --flight, --by, --since, --control
};

// Asks, at the same time, every router (those registered as
// skyport-router/admin unless o.routers names them) for /stats and the hub
// (--hub; an empty --hub leaves it out) for the experiment rows. Prints the
// merged router table, then the experiment table (experiment_table.h); with
// --json the merged /stats document with the experiment under "experiment".
// A source that does not answer is named on stderr and left out; exit 1 only
// when neither answered, 2 for bad flags (and an unknown --control).
int RunStats(const GlobalOptions& g, const StatsOptions& o);


}  // namespace skyport::cli
