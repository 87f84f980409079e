// Runs skyport-hub until SIGINT/SIGTERM: gRPC (CLI + drones), git smart-HTTP,
// and the admin listener.
#pragma once

#include <string>
#include <vector>

#include "core/daemon.h"
#include "core/http_admin.h"

namespace skyport::hub {

struct DaemonOptions {
  std::string listen = "127.0.0.1:6001";
  std::string git_listen = "127.0.0.1:6002";
  std::string data_dir;
  std::vector<std::string> allow_non_ff;  // apps ("*" = all) that accept forced pushes
  int deploy_timeout_s = 300;
  std::string metrics_listen = "127.0.0.1:6011";
  std::string port_file;      // "GRPC_PORT GIT_PORT" once listening
  std::string registry = "127.0.0.1:6000";  // flights write route configs here ("" = flights off)
  int gate_interval_ms = 10'000;  // between looks of a waiting flight gate
  // Bounds on git pushes (see hub/git_http.h PushLimits, docs/operations.md).
  uint64_t git_max_pack_size = 2ull << 30;
  uint64_t git_max_object_size = 100ull << 20;
  uint32_t git_max_delta_depth = 50;
  uint64_t git_max_objects = 1'000'000;
  uint64_t git_max_inflate_bytes = 32ull << 30;
  uint32_t git_max_refs_per_push = 1000;
  int git_max_concurrent_pushes = 4;
  AdminFlags admin;  // the metrics listener's token and bounds
  CommonDaemonFlags common;
};

int RunDaemon(const DaemonOptions& o);

}  // namespace skyport::hub
