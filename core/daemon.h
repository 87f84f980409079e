// Start-up glue every daemon shares: logging, the cluster token, TLS file
// paths, and waiting for SIGINT/SIGTERM.
#pragma once

#include <signal.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport {

// PEM files for TLS. Servers: cert + key (+ ca to require client certs).
// Clients: ca to verify the server (+ cert + key for mTLS).
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
};

struct CommonDaemonFlags {
  std::string token_file;
  std::string log_level = "info";
  std::string log_format = "text";
  TlsFiles tls;
  // The CLI's variables set but not read by this daemon (EnableEnvAndConfig).
  std::vector<std::string> env_not_read;
};

// Sets up structured logging for `component`, checks the TLS flags, and
// loads the cluster token (--token-file, else SKYPORT_<COMPONENT>_TOKEN), and
// logs the CLI's variables the daemon did not read.
// With `token_required` false and no token given, returns "" (a daemon that
// accepts no commands, e.g. a static-mode router without an admin port).
Result<std::string> StartDaemon(std::string_view component, const CommonDaemonFlags& flags,
                                bool token_required = true);

// Logs why the daemon cannot start; returns the exit code to use.
int FailStart(const Status& s);

// Blocks SIGINT and SIGTERM for this thread and every thread started after
// it (construct before any thread), so that Wait() gets them.
class StopSignals {
 public:
  // `with_hup`: SIGHUP is caught too (Wait returns it; the caller reloads).
  explicit StopSignals(bool with_hup = false);
  // Blocks until SIGINT or SIGTERM (or SIGHUP); returns the signal number.
  int Wait();

 private:
  sigset_t set_;
};

}  // namespace skyport
