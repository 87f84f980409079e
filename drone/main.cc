// skyport-drone: runs the hub's deployments on this machine.
#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "drone/daemon.h"

int main(int argc, char** argv) {
  skyport::drone::DaemonOptions o;
  auto& a = o.agent;
  a.hub = "127.0.0.1:6001";
  a.registry = "127.0.0.1:6000";
  a.advertise = "127.0.0.1";
  CLI::App app{"skyport-drone: checks out and runs the hub's deployments, registers them in the registry.\n"
               "Every setting is also read from SKYPORT_DRONE_<FLAG> and from --config FILE.\n"
               "With `-- CMD ARGS...` every deployment runs that command (role --role) instead of its Procfile."};
  app.add_option("--hub", a.hub, "Hub gRPC address, or several as HOST:PORT,HOST:PORT,... (the drone "
                 "attaches to the leader and follows it)")->capture_default_str();
  app.add_option("--registry", a.registry, "Registry gRPC address, or several as HOST:PORT,HOST:PORT,... "
                 "(tried in turn)")->capture_default_str();
  app.add_option("--name", a.name, "Drone name (default: the host name)");
  app.add_option("--advertise", a.advertise, "Address other machines reach this drone's apps on")->capture_default_str();
  app.add_option("--data", a.data_dir, "Data directory (checkouts, logs, state)")->required();
  app.add_option("--label", o.labels, "KEY=VALUE label for deploy targeting (repeatable)");
  app.add_option("--role", a.fixed_role, "Role name of the fixed command")->capture_default_str();
  app.add_option("--drain-ms", o.drain_ms, "Milliseconds between deregistering and SIGTERM on stop")->capture_default_str();
  app.add_option("--ready-timeout", o.ready_timeout_s, "Seconds an instance has to answer on its port")->capture_default_str();
  app.add_option("--min-uptime-ms", a.min_uptime_ms,
                 "Milliseconds an instance must stay ready before it takes traffic and its deploy succeeds "
                 "(skyport.json min_uptime_ms overrides it per app)")
      ->capture_default_str();
  app.add_option("--port-clash-retries", a.port_clash_retries,
                 "Ports per instance found taken by a process outside the cluster before a deploy gives up")
      ->capture_default_str();
  app.add_option("--lease-ttl", a.lease_ttl_s, "Registry lease TTL in seconds (entries vanish this long after a crash)")
      ->capture_default_str();
  app.add_option("--stop-timeout", o.stop_timeout_s, "Seconds from SIGTERM to SIGKILL when an app stops "
                 "(skyport.json stop_timeout_s overrides it per app)")->capture_default_str();
  app.add_option("--app-uids", o.app_uids,
                 "LO-HI: run each app as a uid of its own from this range (e.g. 61184-65519; the drone must be "
                 "root); apps cannot read or change each other's checkouts, environment or processes");
  app.add_option("--app-user", o.app_user, "Run apps and release steps as this user (the drone must be root; "
                 "the token file must not be readable by it)");
  app.add_option("--app-env-pass", o.app_env_pass, "Names of the drone's environment variables apps get "
                 "(comma-separated; apps get nothing else of the drone's environment)")->delimiter(',');
  app.add_option("--app-nofile", o.app_nofile, "Open files per app process (RLIMIT_NOFILE; default and ceiling; "
                 "0: unchanged)")->capture_default_str();
  app.add_option("--app-nproc", o.app_nproc, "Processes and threads of the app's user (RLIMIT_NPROC; default "
                 "and ceiling; 0: unchanged)")->capture_default_str();
  app.add_option("--app-as-mb", o.app_as_mb, "Address space per app process in MiB (RLIMIT_AS; default and "
                 "ceiling; 0: unlimited)")->capture_default_str();
  app.add_option("--app-nice", o.app_nice, "How much lower than the drone's the apps' CPU priority is (nice "
                 "increment, 0..19)")->capture_default_str();
  app.add_option("--app-cpu", o.app_cpu, "CPUs per instance (cgroup v2 cpu.max; default and ceiling; 0: "
                 "unlimited)")->capture_default_str();
  app.add_option("--app-memory-mb", o.app_memory_mb, "Memory per instance in MiB (cgroup v2 memory.max; "
                 "default and ceiling; 0: unlimited)")->capture_default_str();
  app.add_option("--cgroups", o.cgroups, "One cgroup v2 per instance: auto (when the drone can make them), "
                 "on (required), off")->capture_default_str();
  // ---- housekeeping (issue 16)
  app.add_option("--retention", o.retention,
                 "How long a stopped or failed commit's checkout and logs (and its release step's output) are kept "
                 "after their last write, e.g. 7d, 12h, 30m (0: kept forever); what runs is never removed")
      ->capture_default_str();
  app.add_option("--gc-interval", o.gc_interval, "Time between looks for expired checkouts and logs (e.g. 10m, 1s)")
      ->capture_default_str();
  app.add_option("--metrics-listen", o.metrics_listen, "HTTP address for /metrics and /healthz ('' = off; "
                 "a drone has no other listener)")->capture_default_str();
  skyport::AddAdminFlags(app, o.admin, "drone");
  skyport::AddCommonDaemonFlags(app, o.common, /*serves=*/false, "drone");
  app.add_option("command", o.command, "Fixed command (after --)");
  skyport::EnableEnvAndConfig(app, "drone", "", &o.common.env_not_read);
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  return skyport::drone::RunDaemon(std::move(o));
}
