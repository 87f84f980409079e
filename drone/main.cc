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
               "Every setting is also read from SKYPORT_<FLAG> and from --config FILE.\n"
               "With `-- CMD ARGS...` every deployment runs that command (role --role) instead of its Procfile."};
  app.add_option("--hub", a.hub, "Hub gRPC address")->capture_default_str();
  app.add_option("--registry", a.registry, "Registry gRPC address")->capture_default_str();
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
  skyport::AddCommonDaemonFlags(app, o.common, /*serves=*/false);
  app.add_option("command", o.command, "Fixed command (after --)");
  skyport::EnableEnvAndConfig(app, "");
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  return skyport::drone::RunDaemon(std::move(o));
}
