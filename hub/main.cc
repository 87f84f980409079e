// skyport-hub: receives git pushes, keeps the desired deployments, and
// drives the drones.
#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "hub/daemon.h"

int main(int argc, char** argv) {
  skyport::hub::DaemonOptions o;
  CLI::App app{"skyport-hub: git push target and deploy controller.\n"
               "Every setting is also read from SKYPORT_HUB_<FLAG> and from --config FILE."};
  app.add_option("--listen", o.listen, "gRPC address for the CLI and drones (port 0 = any)")->capture_default_str();
  app.add_option("--git-listen", o.git_listen, "git smart-HTTP address (port 0 = any)")->capture_default_str();
  app.add_option("--data", o.data_dir, "Data directory (repositories, deployments)")->required();
  app.add_option("--allow-non-ff", o.allow_non_ff, "Apps that accept non-fast-forward pushes ('*' = all)")
      ->delimiter(',');
  app.add_option("--deploy-timeout", o.deploy_timeout_s, "Seconds a deploy may take per drone")->capture_default_str();
  app.add_option("--logs-follower-max-kb", o.logs_follower_max_kb,
                 "KiB of log lines queued per `skyport logs` client; beyond it lines are dropped with a "
                 "\"N lines skipped\" marker")
      ->capture_default_str()->check(CLI::Range(16, 1 << 20));
  app.add_option("--metrics-listen", o.metrics_listen, "HTTP address for /metrics and /healthz ('' = off)")
      ->capture_default_str();
  app.add_option("--registry", o.registry,
                 "Registry gRPC address: flights write route configs there ('' = no flights); several as "
                 "HOST:PORT,HOST:PORT,... (tried in turn)")
      ->capture_default_str();
  app.add_option("--gate-interval-ms", o.gate_interval_ms, "Milliseconds between looks of a flight gate waiting for data")
      ->capture_default_str()->check(CLI::Range(100, 3'600'000));
  app.add_option("--max-flights", o.max_flights,
                 "Flights not finished (running, cleaning up, promoted in their grace) at once; a start beyond is "
                 "refused with RESOURCE_EXHAUSTED")
      ->capture_default_str()->check(CLI::Range(1, 10'000));
  app.add_option("--git-max-pack-size", o.git_max_pack_size,
                 "Largest push (HTTP body and packfile), bytes or with a unit (2GiB)")
      ->capture_default_str()->transform(CLI::AsSizeValue(false));
  app.add_option("--git-max-object-size", o.git_max_object_size,
                 "Largest object a push may carry, inflated or as a delta result (100MiB)")
      ->capture_default_str()->transform(CLI::AsSizeValue(false));
  app.add_option("--git-max-delta-depth", o.git_max_delta_depth, "Longest delta chain in a pushed pack")
      ->capture_default_str()->check(CLI::Range(1, 4095));
  app.add_option("--git-max-objects", o.git_max_objects, "Most objects in one pushed pack")->capture_default_str();
  app.add_option("--git-max-inflate-bytes", o.git_max_inflate_bytes,
                 "Most bytes indexing one push may inflate: every object, plus each delta's whole chain (32GiB)")
      ->capture_default_str()->transform(CLI::AsSizeValue(false));
  app.add_option("--git-max-refs-per-push", o.git_max_refs_per_push, "Most ref updates in one push")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--git-max-concurrent-pushes", o.git_max_concurrent_pushes,
                 "Pushes processed at once; more are answered 503")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--git-max-pushes-per-client", o.git_max_pushes_per_client,
                 "Pushes processed at once from one client address; more are answered 429")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--git-idle-timeout", o.git_idle_timeout_s,
                 "Seconds a git connection may wait for the first byte of a request (also between keep-alive requests)")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--git-header-timeout", o.git_header_timeout_s,
                 "Seconds a git request header may take from its first byte (slowloris)")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--git-body-timeout", o.git_body_timeout_s, "Seconds a push's whole body may take")
      ->capture_default_str()->check(CLI::Range(1, 86'400));
  app.add_option("--git-min-rate", o.git_min_rate,
                 "Slowest push body kept, bytes/s over each --git-min-rate-window (0 = no minimum)")
      ->capture_default_str()->transform(CLI::AsSizeValue(false));
  app.add_option("--git-min-rate-window", o.git_min_rate_window_s, "Seconds over which --git-min-rate is measured")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--git-max-connections", o.git_max_connections,
                 "Connections open to the git listener at once; more are closed at accept")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--git-max-connections-per-client", o.git_max_connections_per_client,
                 "Connections open to the git listener from one client address; more are closed at accept")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--git-min-copies", o.git_min_copies,
                 "--store etcd: hubs that must hold a push (the leader and standbys) before it is acknowledged; "
                 "fewer within --git-replication-timeout refuses it (0 = 2 with etcd, 1 with sqlite)")
      ->capture_default_str()->check(CLI::Range(0, 16));
  app.add_option("--git-replication-timeout", o.git_replication_timeout_s,
                 "--store etcd: seconds the standbys may take to store a push before it is refused "
                 "(a hung standby costs a push at most this)")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--git-catch-up-interval", o.git_catch_up_interval_s,
                 "--store etcd: seconds between a standby's comparisons of its repositories with the leader's "
                 "(also on start, on a new leader, and when it missed a push)")
      ->capture_default_str()->check(CLI::Range(1, 86'400));
  app.add_option("--stats-retention", o.stats_retention_days,
                 "Days of hourly experiment rows (per user, event, hour) kept in stats.db (0 = forever)")
      ->capture_default_str()->check(CLI::Range(0, 100'000));
  app.add_option("--stats-traffic-retention", o.stats_traffic_retention_days,
                 "Days of per-minute traffic rows kept in stats.db (0 = forever)")
      ->capture_default_str()->check(CLI::Range(0, 100'000));
  app.add_option("--stats-max-mb", o.stats_max_mb,
                 "Live size of stats.db beyond which a row of a new key takes the place of the oldest exposure of a "
                 "user with no events, or is dropped when there is none (existing keys still count)")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--stats-user-cap-percentile", o.stats_user_cap_percentile,
                 "Experiment statistics: each user's total of an event is capped (winsorized) at this percentile of "
                 "the users' totals, so one user cannot move an arm's mean (100 = no capping)")
      ->capture_default_str()->check(CLI::Range(50.0, 100.0));
  app.add_option("--stats-max-event-names", o.stats_max_event_names,
                 "Distinct event names per app; rows of further names are dropped")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--stats-max-routers", o.stats_max_routers,
                 "Router ids whose stats batch ids the hub remembers; batches of further new ids are refused")
      ->capture_default_str()->check(CLI::Range(1, 10'000'000));
  app.add_option("--stats-router-retention", o.stats_router_retention_days,
                 "Days after which a router id not seen (and its batch ids) is forgotten")
      ->capture_default_str()->check(CLI::Range(1, 100'000));
  app.add_option("--stats-prune-interval", o.stats_prune_interval_s, "Seconds between retention runs")
      ->capture_default_str()->check(CLI::Range(1, 86'400));
  app.add_option("--stats-max-batch-rows", o.stats_max_batch_rows, "Rows in one shipped stats batch; more: refused")
      ->capture_default_str()->check(CLI::Range(1, 10'000'000));
  app.add_option("--stats-max-age", o.stats_max_age_days, "Days a shipped row's hour may lie in the past; older: refused")
      ->capture_default_str()->check(CLI::Range(1, 100'000));
  app.add_option("--port-file", o.port_file, "Write \"GRPC_PORT GIT_PORT\" here once listening");
  app.add_option("--store", o.store,
                 "Where the hub keeps its state: sqlite (one hub, DATA_DIR) or etcd (several hubs elect a "
                 "leader; the --etcd-* flags)")
      ->capture_default_str()->check(CLI::IsMember({"sqlite", "etcd"}));
  app.add_option("--advertise", o.advertise,
                 "gRPC HOST:PORT other hubs name when this hub leads (default: --listen, unless a wildcard)");
  app.add_option("--advertise-git", o.advertise_git,
                 "git URL (http://HOST:PORT) or HOST:PORT standbys redirect pushes to when this hub leads "
                 "(default: --git-listen, unless a wildcard)");
  app.add_option("--leader-ttl", o.leader_ttl,
                 "--store etcd: lease TTL of the leader (1s..60s); a dead leader is replaced within about it, "
                 "and a leader cut off from etcd stops leading within it")
      ->capture_default_str();
  // ---- housekeeping (issue 16)
  app.add_option("--repack-interval", o.repack_interval,
                 "Repack a repository with more than one pack (or loose objects) this long after its last repack "
                 "(e.g. 24h, 30m; 0 = never by time)")
      ->capture_default_str();
  app.add_option("--repack-after-pushes", o.repack_after_pushes,
                 "Repack a repository after this many pushes (or once it holds this many packs); 0 = never by count")
      ->capture_default_str()->check(CLI::Range(0, 1'000'000));
  app.add_option("--repack-check-interval", o.repack_check_interval,
                 "Time between looks for repositories to repack (e.g. 1m, 10s)")
      ->capture_default_str();
  // ---- the console (issue 17)
  app.add_option("--console-listen", o.console_listen,
                 "HTTP address of the web console (login with the cluster token; '' = off). Beyond loopback it "
                 "is plain HTTP: put a TLS proxy in front (and --console-secure-cookie)")
      ->capture_default_str();
  app.add_option("--console-max-connections", o.console_max_connections,
                 "Connections open to the console at once; more are closed at accept")
      ->capture_default_str()->check(CLI::Range(1, 100'000));
  app.add_option("--console-max-connections-per-client", o.console_max_connections_per_client,
                 "Connections open to the console from one client address; more are closed at accept")
      ->capture_default_str()->check(CLI::Range(1, 100'000));
  app.add_option("--console-max-sse-streams", o.console_max_sse_streams,
                 "Live-update streams (GET /api/events) open at once; more are answered 503")
      ->capture_default_str()->check(CLI::Range(1, 10'000));
  app.add_option("--console-max-body", o.console_max_body,
                 "Largest console request body (a flight spec, a split), bytes or with a unit; larger: 413")
      ->capture_default_str()->transform(CLI::AsSizeValue(false));
  app.add_option("--console-max-sessions", o.console_max_sessions,
                 "Console login sessions kept (in memory; a hub restart logs everyone out); beyond, the least "
                 "recently used one ends")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--console-session-idle-timeout", o.console_session_idle_s,
                 "Seconds a console session may go unused before it ends")
      ->capture_default_str()->check(CLI::Range(60, 30 * 86'400));
  app.add_option("--console-session-lifetime", o.console_session_lifetime_s,
                 "Seconds after login when a console session ends, used or not")
      ->capture_default_str()->check(CLI::Range(60, 365 * 86'400));
  app.add_option("--console-login-max-failures", o.console_login_max_failures,
                 "Failed console logins (or wrong Bearer tokens) per client address per minute; beyond: 429")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--console-hosts", o.console_hosts,
                 "Host names the console answers besides IP addresses and localhost (comma-separated; e.g. the "
                 "name a TLS proxy in front serves): another Host is refused 421 (DNS rebinding)")
      ->delimiter(',');
  app.add_flag("--console-secure-cookie", o.console_secure_cookie,
               "Mark the console's session cookie Secure (the console is reached through a TLS proxy)");
  skyport::AddEtcdFlags(app, o.etcd, "hub");
  skyport::AddCommonDaemonFlags(app, o.common, /*serves=*/true, "hub");
  skyport::AddAdminFlags(app, o.admin, "hub");
  skyport::EnableEnvAndConfig(app, "hub", "", &o.common.env_not_read);
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  return skyport::hub::RunDaemon(o);
}
