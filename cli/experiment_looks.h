// The I/O half of the cumulative view (cli/experiment_series.h): asks the hub
// for each look and stores the series in the experiment result.
#pragma once

#include "cli/commands.h"
#include "cli/experiment_table.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

// With --json, --by and --event and a hub: one StatsQuery per look over one
// connection (by "", from the range's start to the look's end; at most
// kMaxLooks), then result.cumulative = CumulativeJson. A look the hub does not
// answer ends the series there (what answered is kept); nothing is printed.
void AddCumulative(const GlobalOptions& g, const v1::StatsQuery& query, ExperimentResult& result);

}  // namespace skyport::cli
