// Runs skyport-drone until SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "core/daemon.h"
#include "drone/agent.h"

namespace skyport::drone {

struct DaemonOptions {
  AgentOptions agent;
  CommonDaemonFlags common;
  std::vector<std::string> labels;   // KEY=VALUE
  std::vector<std::string> command;  // after `--`
  int drain_ms = 500;
  int ready_timeout_s = 30;
};

int RunDaemon(DaemonOptions o);

}  // namespace skyport::drone
