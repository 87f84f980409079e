// skyport-hub: receives git pushes, keeps the desired deployments, and
// drives the drones.
#include <CLI/CLI.hpp>

#include "core/flags.h"
#include "hub/daemon.h"

int main(int argc, char** argv) {
  skyport::hub::DaemonOptions o;
  CLI::App app{"skyport-hub: git push target and deploy controller.\n"
               "Every setting is also read from SKYPORT_<FLAG> and from --config FILE."};
  app.add_option("--listen", o.listen, "gRPC address for the CLI and drones (port 0 = any)")->capture_default_str();
  app.add_option("--git-listen", o.git_listen, "git smart-HTTP address (port 0 = any)")->capture_default_str();
  app.add_option("--data", o.data_dir, "Data directory (repositories, deployments)")->required();
  app.add_option("--token-file", o.token_file, "File holding the cluster token (else env SKYPORT_TOKEN)");
  app.add_option("--allow-non-ff", o.allow_non_ff, "Apps that accept non-fast-forward pushes ('*' = all)")
      ->delimiter(',');
  app.add_option("--deploy-timeout", o.deploy_timeout_s, "Seconds a deploy may take per drone")->capture_default_str();
  app.add_option("--metrics-listen", o.metrics_listen, "HTTP address for /metrics and /healthz ('' = off)")
      ->capture_default_str();
  app.add_option("--port-file", o.port_file, "Write \"GRPC_PORT GIT_PORT\" here once listening");
  app.add_option("--tls-cert", o.tls.cert, "PEM certificate: serve gRPC over TLS");
  app.add_option("--tls-key", o.tls.key, "PEM private key for --tls-cert");
  app.add_option("--tls-ca", o.tls.ca, "PEM CA: require client certificates signed by it");
  app.add_option("--log-level", o.log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", o.log_format, "text|json")->capture_default_str();
  skyport::EnableEnvAndConfig(app, "");
  int code = 0;
  if (!skyport::ParseOrExit(app, argc, argv, code)) return code;
  return skyport::hub::RunDaemon(o);
}
