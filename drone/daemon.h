// Runs skyport-drone until SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "drone/agent.h"

namespace skyport::drone {

struct DaemonOptions {
  AgentOptions agent;
  std::string token_file;
  std::vector<std::string> labels;   // KEY=VALUE
  std::vector<std::string> command;  // after `--`
  int drain_ms = 500;
  int ready_timeout_s = 30;
  std::string log_level = "info";
  std::string log_format = "text";
};

int RunDaemon(DaemonOptions o);

}  // namespace skyport::drone
