// `skyport flight start|kill|list|status|log|validate`: the hub's control
// tower from the command line. Each Run* returns the exit code (errors.h).
#pragma once

#include <string>

#include "cli/commands.h"

namespace skyport::cli {

struct FlightOptions {
  std::string file;    // start, validate: the spec (JSON or YAML)
  std::string name;    // kill, status, log
  std::string reason;  // kill
  bool all = false;    // list: finished flights too
};

// Validates locally first (every problem with its field path: exit 2), then
// asks the hub, which resolves the commits and starts the flight.
int RunFlightStart(const GlobalOptions& g, const FlightOptions& o);
// Offline: parse and validate the spec, print "ok" (or the JSON with --json).
int RunFlightValidate(const GlobalOptions& g, const FlightOptions& o);
int RunFlightKill(const GlobalOptions& g, const FlightOptions& o);
int RunFlightList(const GlobalOptions& g, const FlightOptions& o);
int RunFlightStatus(const GlobalOptions& g, const FlightOptions& o);
int RunFlightLog(const GlobalOptions& g, const FlightOptions& o);

}  // namespace skyport::cli
