// The hub commands: deploy, stop, ps, drones, logs. Their tables (HubCommands
// in hub_cmds.cc, LogsCommands in logs_cmd.cc) fill the option structs
// (hub_requests.h); each Run* returns the process exit code (see errors.h)
// and prints its own output and errors.
#pragma once

#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/hub_client.h"
#include "cli/hub_requests.h"

namespace skyport::cli {

struct PsOptions {
  std::string app;  // "" = every app
};

// Streams progress lines; exit 0 only when the hub reports the deploy done.
int RunDeploy(const GlobalOptions& g, const DeployOptions& o);
int RunStop(const GlobalOptions& g, const StopOptions& o);
int RunPs(const GlobalOptions& g, const PsOptions& o);
int RunDrones(const GlobalOptions& g);
// With --follow, streams until SIGINT/SIGTERM, then cancels and exits 0.
int RunLogs(const GlobalOptions& g, const LogsOptions& o);

// Loads the token and dials --hub, or prints why not and sets `exit_code`.
std::unique_ptr<HubClient> ConnectHubOrReport(const GlobalOptions& g, int& exit_code);
// Prints FormatRpcError for `what` (hinting at --hub) and returns kExitFailure.
int ReportHubError(const GlobalOptions& g, const std::string& what, const Status& status);
// Writes `line` and a newline to stdout and flushes (a pipe reader sees each
// line when it happens); false when stdout is gone.
bool PrintLine(const std::string& line);

}  // namespace skyport::cli
