// What `skyport status` asks (status_cmd.cc), shared with the hub's console
// (GET /api/overview) so that both show the same table from the same probes.
#pragma once

#include "cli/commands.h"
#include "cli/status_report.h"

namespace skyport::cli {

// Asks every hub of g.hub (and the other hubs of their election), every
// registry of g.registry, the drones through the hub and the routers found in
// the registry, at once, each within min(opts.timeout_ms, 5 s).
// INVALID_ARGUMENT for a bad address list.
Result<StatusInputs> GatherStatus(const GlobalOptions& g, const ConnectOptions& hub_opts);

}  // namespace skyport::cli
