// Runs skyport-drone until SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "core/daemon.h"
#include "core/http_admin.h"
#include "drone/agent.h"

namespace skyport::drone {

struct DaemonOptions {
  AgentOptions agent;
  CommonDaemonFlags common;
  std::vector<std::string> labels;   // KEY=VALUE
  std::vector<std::string> command;  // after `--`
  int drain_ms = 500;
  int ready_timeout_s = 30;
  // How apps run (docs/operations.md, "Apps on the drone").
  std::string app_user;                // "": the drone's own user
  std::string app_uids;                // "LO-HI": a uid per app from this range ("": off)
  std::vector<std::string> app_env_pass;
  uint64_t app_nofile = 16384;
  uint64_t app_nproc = 4096;
  uint64_t app_as_mb = 0;
  int app_nice = 5;
  double app_cpu = 0;
  uint64_t app_memory_mb = 0;
  int stop_timeout_s = 5;
  std::string cgroups = "auto";        // auto | on | off
  std::string metrics_listen;          // "" = no metrics listener
  AdminFlags admin;                    // its token and bounds
  // ---- housekeeping (issue 16): stopped commits' checkouts and logs (drone/disk_janitor.h)
  std::string retention = "7d";        // kept this long after their last write
  std::string gc_interval = "10m";     // between janitor passes
};

int RunDaemon(DaemonOptions o);

}  // namespace skyport::drone
