// Runs skyport-hub until SIGINT/SIGTERM: gRPC (CLI + drones), git smart-HTTP,
// and the admin listener.
#pragma once

#include <string>
#include <vector>

#include "core/daemon.h"
#include "core/etcd_flags.h"
#include "core/http_admin.h"

namespace skyport::hub {

struct DaemonOptions {
  std::string listen = "127.0.0.1:6001";
  std::string git_listen = "127.0.0.1:6002";
  std::string data_dir;
  std::vector<std::string> allow_non_ff;  // apps ("*" = all) that accept forced pushes
  int deploy_timeout_s = 300;
  int logs_follower_max_kb = 1024;  // lines queued per `skyport logs` client before dropping
  std::string metrics_listen = "127.0.0.1:6011";
  std::string port_file;      // "GRPC_PORT GIT_PORT" once listening
  std::string registry = "127.0.0.1:6000";  // flights write route configs here ("" = flights off)
  int gate_interval_ms = 10'000;  // between looks of a waiting flight gate
  int max_flights = 100;          // flights not finished at once; a start beyond: RESOURCE_EXHAUSTED
  // Bounds on git pushes (see hub/git/git_http.h PushLimits, docs/operations.md).
  uint64_t git_max_pack_size = 2ull << 30;
  uint64_t git_max_object_size = 100ull << 20;
  uint32_t git_max_delta_depth = 50;
  uint64_t git_max_objects = 1'000'000;
  uint64_t git_max_inflate_bytes = 32ull << 30;
  uint32_t git_max_refs_per_push = 1000;
  int git_max_concurrent_pushes = 4;
  int git_max_pushes_per_client = 2;
  // Slow and greedy git clients (hub/git/git_http.h GitHttpOptions).
  int git_idle_timeout_s = 60;
  int git_header_timeout_s = 10;
  int git_body_timeout_s = 600;
  uint64_t git_min_rate = 1024;
  int git_min_rate_window_s = 20;
  int git_max_connections = 512;
  int git_max_connections_per_client = 32;
  // Several hubs (hub/peer/): copies a push needs before it is acknowledged
  // (0 = 2 with --store etcd, 1 with sqlite), how long the standbys may take,
  // and how often a standby compares its repositories with the leader's.
  int git_min_copies = 0;
  int git_replication_timeout_s = 10;
  int git_catch_up_interval_s = 10;
  AdminFlags admin;  // the metrics listener's token and bounds
  // Experiment data (stats.db): retention, bounds, and the checks of shipped batches.
  int stats_retention_days = 400;          // hourly user rows; 0 = forever
  int stats_traffic_retention_days = 90;   // per-minute traffic rows; 0 = forever
  int stats_max_mb = 4096;                 // live data; beyond it rows of new keys are dropped
  int stats_max_event_names = 1000;        // distinct event names per app
  double stats_user_cap_percentile = 99.9; // per-user cap of event totals in the statistics; 100 = none
  int stats_prune_interval_s = 600;        // between retention runs
  int stats_max_routers = 10'000;          // router ids whose batch ids are remembered (dedup)
  int stats_router_retention_days = 30;    // a router id not seen this long is forgotten
  int stats_max_batch_rows = 50'000;       // rows in one shipped batch
  int stats_max_age_days = 40;             // a shipped row's hour at most this old
  CommonDaemonFlags common;
  // Several hubs (docs/operations.md): "sqlite" = one hub that always leads,
  // state in DATA_DIR; "etcd" = hubs elect a leader in etcd, which keeps the
  // desired state there; the others stand by.
  std::string store = "sqlite";
  EtcdFlags etcd;
  std::string advertise;      // gRPC HOST:PORT others reach this hub on ("" = --listen's, not a wildcard)
  std::string advertise_git;  // git URL or HOST:PORT ("" = --git-listen's)
  std::string leader_ttl = "2s";
  // ---- housekeeping (issue 16): repacking the repositories (hub/ops/repack.h)
  std::string repack_interval = "24h";       // a repository with several packs is repacked this often; 0 = never by time
  int repack_after_pushes = 20;              // ... and after this many pushes; 0 = never by count
  std::string repack_check_interval = "1m";  // between looks
  // ---- the console (issue 17): hub/console/API.md, docs/operations.md
  std::string console_listen = "127.0.0.1:6004";  // "" = off
  int console_max_connections = 256;
  int console_max_connections_per_client = 64;
  int console_max_sse_streams = 32;
  uint64_t console_max_body = 64 << 10;
  int console_max_sessions = 1000;
  int console_session_idle_s = 3600;
  int console_session_lifetime_s = 12 * 3600;
  int console_login_max_failures = 5;  // per client address per minute; beyond: 429
  bool console_secure_cookie = false;  // served behind a TLS proxy: the session cookie gets Secure
  std::vector<std::string> console_hosts;  // Host names besides IP literals and localhost (DNS rebinding)
};

int RunDaemon(const DaemonOptions& o);

}  // namespace skyport::hub
