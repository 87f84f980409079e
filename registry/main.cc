// skyport-registry: endpoints, ports, leases and route config for the cluster.
#include <csignal>
#include <fstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/flags.h"
#include "core/log.h"
#include "core/token.h"
#include "registry/daemon.h"

int main(int argc, char** argv) {
  skyport::registry::DaemonOptions o;
  CLI::App app{"skyport-registry: the cluster's registry of endpoints, ports, leases and route config.\n"
               "Every setting is also read from SKYPORT_<FLAG> and from --config FILE."};
  app.add_option("--listen", o.listen, "gRPC address (HOST:PORT; port 0 picks a free one)")->capture_default_str();
  app.add_option("--data", o.data_dir, "Data directory (SQLite database)")->required();
  app.add_option("--token-file", o.token_file, "File holding the cluster token (else env SKYPORT_TOKEN)");
  app.add_option("--port-range", o.port_range, "Ports handed out per host, LO-HI")->capture_default_str();
  app.add_option("--lease-grace", o.lease_grace_s, "Seconds restored leases get for holders to reconnect")
      ->capture_default_str();
  app.add_option("--sync", o.sync,
                 "full: fsync every write (survives power loss); normal: writes survive kill -9, "
                 "a power cut may lose the last ones")
      ->capture_default_str();
  app.add_option("--history", o.history, "Revisions kept for watchers to resume from")->capture_default_str();
  app.add_option("--metrics-listen", o.metrics_listen, "HTTP address for /metrics and /healthz ('' = off)")
      ->capture_default_str();
  app.add_option("--port-file", o.port_file, "Write the bound gRPC port here once listening");
  app.add_option("--tls-cert", o.tls.cert, "PEM certificate: serve TLS");
  app.add_option("--tls-key", o.tls.key, "PEM private key for --tls-cert");
  app.add_option("--tls-ca", o.tls.ca, "PEM CA: require client certificates signed by it");
  app.add_option("--log-level", o.log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", o.log_format, "text|json")->capture_default_str();
  skyport::EnableEnvAndConfig(app, "");
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  return skyport::registry::RunDaemon(o);
}
