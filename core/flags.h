// CLI11 glue shared by every main: settings from flags, SKYPORT_* environment
// variables and a TOML-style config file, in that precedence.
#pragma once

#include <string>

#include "core/config.h"
#include "core/daemon.h"

namespace CLI {
class App;
}

namespace skyport {

struct AdminFlags;
struct EtcdFlags;

// Gives every top-level option of `app` (visited at parse time) an
// environment variable SKYPORT_<NAME>, and adds
// `--config FILE` (also SKYPORT_CONFIG; default `default_config`, which may
// be missing) whose entries lose to the environment and to flags.
void EnableEnvAndConfig(CLI::App& app, const std::string& default_config, EnvLookup env = ProcessEnv());

// --token-file, --log-level, --log-format and the --tls-* flags of a daemon
// that serves TLS (`serves` true) or only dials out (false).
void AddCommonDaemonFlags(CLI::App& app, CommonDaemonFlags& flags, bool serves);

// --metrics-token-file, --admin-max-connections and --admin-read-timeout-ms
// of a daemon with an admin/metrics listener (core/http_admin.h).
void AddAdminFlags(CLI::App& app, AdminFlags& flags);

// --etcd-endpoints, --etcd-cacert, --etcd-cert, --etcd-key, --etcd-user,
// --etcd-password-file, --etcd-dial-timeout, --etcd-request-timeout and
// --etcd-prefix of a daemon that keeps its state in etcd (core/etcd_flags.h).
void AddEtcdFlags(CLI::App& app, EtcdFlags& flags);

// Parses argv; prints help or the error and returns the exit code to use
// (0 for --help) in `exit_code`, and false when the caller should exit.
bool ParseOrExit(CLI::App& app, int argc, char** argv, int& exit_code);

}  // namespace skyport
