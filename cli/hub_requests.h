// The hub commands' arguments as checked Hub requests. Pure: the command
// tables (hub_cmds.cc, logs_cmd.cc) fill the option structs, these validate
// them (every problem, not just the first) and build the request; errors are
// INVALID_ARGUMENT (usage, exit 2).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

struct DeployOptions {
  std::string app;
  std::string commitish;            // hash, prefix of one, or branch
  std::vector<std::string> drones;  // each "a" or "a,b,c"; empty = all
  std::vector<std::string> labels;  // KEY=VALUE
  uint32_t count = 0;               // 0 = every matching drone
  uint32_t instances = 0;           // per role; 0 = 1
  std::vector<std::string> env;     // KEY=VALUE
  uint32_t timeout_s = 0;           // the whole deploy; 0 = the hub's --deploy-timeout
};

struct StopOptions {
  std::string app;
  std::string commitish;
  std::vector<std::string> drones;  // each "a" or "a,b,c"; empty = wherever it runs
  bool force = false;               // even though the app's route still gives it weight
};

struct LogsOptions {
  std::string app;
  std::string commit;  // prefix; "" = every commit
  std::string role;    // "" = every role
  bool follow = false;
  uint32_t tail = 0;   // 0 = the drones' default
  bool release = false;  // the commit's release step output instead (needs commit; not with follow)
};

// Drone names from repeatable, comma-separated values, in order, without
// duplicates; each must be a valid drone name.
Result<std::vector<std::string>> ParseDroneList(const std::vector<std::string>& values);

// What kind of keys a KEY=VALUE list holds.
enum class KeyKind {
  kLabel,  // any non-empty key without '='
  kEnv,    // an environment variable name: [A-Za-z_][A-Za-z0-9_]*
};
// KEY=VALUE items (the value may be empty or hold '='); a key given twice is
// an error. `field` prefixes the messages ("label", "env").
Result<std::map<std::string, std::string>> ParseKeyValues(std::string_view field, KeyKind kind,
                                                          const std::vector<std::string>& items);

Result<v1::DeployRequest> MakeDeployRequest(const DeployOptions& o);
Result<v1::StopRequest> MakeStopRequest(const StopOptions& o);
// The commit prefix is folded to lower case.
Result<v1::LogsRequest> MakeLogsRequest(const LogsOptions& o);

}  // namespace skyport::cli
