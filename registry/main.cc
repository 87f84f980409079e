// skyport-registry: endpoints, ports, leases and route config for the cluster.
#include <csignal>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/flags.h"
#include "core/log.h"
#include "core/token.h"
#include "registry/daemon.h"
#include "registry/migrate.h"

int main(int argc, char** argv) {
  skyport::registry::DaemonOptions o;
  CLI::App app{"skyport-registry: the cluster's registry of endpoints, ports, leases and route config.\n"
               "Every setting is also read from SKYPORT_REGISTRY_<FLAG> and from --config FILE."};
  app.add_option("--listen", o.listen, "gRPC address (HOST:PORT; port 0 picks a free one)")->capture_default_str();
  app.add_option("--store", o.store,
                 "Where the state lives: sqlite (one registry, --data) or etcd (any number of registries "
                 "sharing one etcd cluster)")
      ->capture_default_str();
  app.add_option("--data", o.data_dir, "Data directory (SQLite database; required with --store sqlite)");
  app.add_option("--port-range", o.port_range, "Ports handed out per host, LO-HI")->capture_default_str();
  app.add_option("--lease-grace", o.lease_grace_s, "Seconds restored leases get for holders to reconnect")
      ->capture_default_str();
  app.add_option("--sync", o.sync,
                 "full: fsync every write (survives power loss); normal: writes survive kill -9, "
                 "a power cut may lose the last ones")
      ->capture_default_str();
  app.add_option("--history", o.history, "Revisions kept for watchers to resume from")->capture_default_str();
  app.add_option("--lease-sweep", o.lease_sweep_s,
                 "etcd store: seconds between sweeps for static leases a killed registry left without their "
                 "record (0 = off)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  app.add_option("--watch-window", o.watch_window,
                 "etcd store: changes kept in memory (by revision) from the registry's one shared etcd watch, for "
                 "watchers joining it after their snapshot or resuming; a watcher resuming from before them gets "
                 "an etcd watch of its own (0 = one etcd watch per watcher, no sharing)")
      ->check(CLI::Range(int64_t{0}, int64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--metrics-listen", o.metrics_listen, "HTTP address for /metrics and /healthz ('' = off)")
      ->capture_default_str();
  app.add_option("--port-file", o.port_file, "Write the bound gRPC port here once listening");
  skyport::AddEtcdFlags(app, o.etcd, "registry");
  skyport::AddCommonDaemonFlags(app, o.common, /*serves=*/true, "registry");
  skyport::AddAdminFlags(app, o.admin, "registry");
  skyport::registry::MigrateOptions m;
  auto* migrate = app.add_subcommand("migrate",
                                     "Copy the registry's data between stores (stop the registries first); "
                                     "reads the copy back and compares");
  migrate->add_option("--from", m.from, "Source: sqlite:DIR or etcd:URL[,URL...]")->required();
  migrate->add_option("--to", m.to, "Destination: etcd:URL[,URL...] or sqlite:DIR")->required();
  migrate->add_flag("--force", m.force, "Replace registry data already in the destination");
  migrate->fallthrough();  // --etcd-prefix, --etcd-cacert, ... apply to the etcd side
  skyport::EnableEnvAndConfig(app, "registry", "", &o.common.env_not_read);
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  if (migrate->parsed()) {
    // As StartDaemon does for the daemon: an old SKYPORT_ETCD_PASSWORD must not fail as a bare auth error.
    for (const std::string& name : o.common.env_not_read)
      std::fprintf(stderr,
                   "skyport-registry migrate: %s is set, but it is the skyport CLI's (or an older release's) "
                   "variable and is not read; set %s instead\n",
                   name.c_str(), skyport::EnvName("registry", name.substr(8)).c_str());
    m.etcd = o.etcd;
    return skyport::registry::RunMigrate(m);
  }
  return skyport::registry::RunDaemon(o);
}
