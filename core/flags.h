// CLI11 glue shared by every main: settings from flags, environment variables
// (SKYPORT_<NAME> for the CLI, SKYPORT_<DAEMON>_<NAME> for a daemon:
// core/config.h) and a TOML-style config file, in that precedence.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/daemon.h"

namespace CLI {
class App;
}

namespace skyport {

struct AdminFlags;
struct EtcdFlags;

// Gives every top-level option of `app` (visited at parse time) the
// environment variable of `program` (EnvNameForFlag: "" is the CLI, "hub"
// skyport-hub, ...), and adds `--config FILE` (also EnvName(program,
// "CONFIG"); default `default_config`, which may be missing) whose entries
// lose to the environment and to flags. For a daemon, `not_read` (if given)
// receives the names of the CLI's variables that are set and would have
// meant one of its settings (SKYPORT_HUB for the router's --hub) while the
// daemon's own is not: StartDaemon logs them (names only, never values).
// Also adds `--version` (core/version.h VersionLine).
void EnableEnvAndConfig(CLI::App& app, const std::string& program, const std::string& default_config,
                        std::vector<std::string>* not_read = nullptr, EnvLookup env = ProcessEnv());

// --token-file, --log-level, --log-format and the --tls-* flags of daemon
// `program` that serves TLS (`serves` true) or only dials out (false).
void AddCommonDaemonFlags(CLI::App& app, CommonDaemonFlags& flags, bool serves, const std::string& program);

// --metrics-token-file, --admin-max-connections and --admin-read-timeout-ms
// of daemon `program` with an admin/metrics listener (core/http_admin.h).
void AddAdminFlags(CLI::App& app, AdminFlags& flags, const std::string& program);

// --etcd-endpoints, --etcd-cacert, --etcd-cert, --etcd-key, --etcd-user,
// --etcd-password-file, --etcd-dial-timeout, --etcd-request-timeout and
// --etcd-prefix of daemon `program`, which keeps its state in etcd
// (core/etcd_flags.h).
void AddEtcdFlags(CLI::App& app, EtcdFlags& flags, const std::string& program);

// Parses argv; prints help or the error and returns the exit code to use
// (0 for --help) in `exit_code`, and false when the caller should exit.
bool ParseOrExit(CLI::App& app, int argc, char** argv, int& exit_code);

}  // namespace skyport
