// Runs skyport-registry until SIGINT/SIGTERM: the owner, the gRPC server and
// the admin (metrics) listener.
#pragma once

#include <string>

#include "core/daemon.h"
#include "core/etcd_flags.h"
#include "core/http_admin.h"

namespace skyport::registry {

struct DaemonOptions {
  std::string listen = "127.0.0.1:6000";
  std::string store = "sqlite";  // sqlite | etcd
  std::string data_dir;          // sqlite only
  EtcdFlags etcd;                // etcd only
  std::string port_range = "10000-20000";
  std::string sync = "full";  // sqlite: full: fsync every commit; normal: survive process crashes only
  int lease_sweep_s = 60;    // etcd: orphaned static leases (registry/etcd_plans.h)
  int lease_grace_s = 10;     // sqlite (etcd keeps leases running across registry restarts)
  int64_t history = 10000;    // sqlite (etcd's own history serves resumes)
  int64_t watch_window = 10000;  // etcd: changes the shared watch keeps for joining watchers; 0 = one etcd watch each
  std::string metrics_listen = "127.0.0.1:6010";
  std::string port_file;
  AdminFlags admin;  // the metrics listener's token and bounds
  CommonDaemonFlags common;
};

// Returns the process exit code.
int RunDaemon(const DaemonOptions& o);

}  // namespace skyport::registry
