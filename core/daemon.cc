#include "core/daemon.h"

#include <pthread.h>

#include <cstdlib>

#include "core/config.h"
#include "core/log.h"
#include "core/token.h"

namespace skyport {

Result<std::string> StartDaemon(std::string_view component, const CommonDaemonFlags& f, bool token_required) {
  auto level = log::ParseLevel(f.log_level);
  if (!level.ok()) return level.status();
  auto format = log::ParseFormat(f.log_format);
  if (!format.ok()) return format.status();
  log::Init(component, *level, *format);
  if (!f.tls.cert.empty() && f.tls.key.empty()) return Status::InvalidArgument("tls-key: required with --tls-cert");
  if (f.tls.cert.empty() && !f.tls.key.empty()) return Status::InvalidArgument("tls-cert: required with --tls-key");
  for (const std::string& name : f.env_not_read)
    log::Warn("an environment variable of the skyport CLI is set; this daemon does not read it",
              {{"variable", name}, {"instead", EnvName(component, name.substr(8))}});
  const std::string token_env = EnvName(component, "TOKEN");
  const char* env_token = std::getenv(token_env.c_str());
  if (!token_required && f.token_file.empty() && (!env_token || !*env_token)) return std::string();
  return LoadToken(f.token_file, env_token ? env_token : "", token_env);
}

int FailStart(const Status& s) {
  log::Error("cannot start", {{"error", s.message()}});
  return 1;
}

StopSignals::StopSignals(bool with_hup) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  if (with_hup) sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

}  // namespace skyport
