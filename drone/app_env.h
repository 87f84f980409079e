// The environment an app (or its release step) starts with. It is built
// from nothing, never from the drone's own environment: the drone holds the
// cluster token (SKYPORT_TOKEN, or the path in SKYPORT_TOKEN_FILE) and its
// settings, and an app may print or send whatever it can read. Pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace skyport::drone {

// systemd's default PATH for services.
inline constexpr const char* kAppPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
inline constexpr const char* kAppLang = "C.UTF-8";

struct AppEnvInput {
  // The drone's environment ("K=V" entries); only the names in `pass` are
  // taken from it.
  std::vector<std::string> drone_environ;
  std::vector<std::string> pass;               // --app-env-pass
  std::string home;                            // HOME (the checkout)
  // The hub's env: the app's config vars (skyport config) with the
  // deploy's own --env on top, merged by the hub (contract/config_vars.h).
  std::map<std::string, std::string> config;
  std::map<std::string, std::string> skyport;  // PORT and SKYPORT_* (always win)
};

// "K=V" entries, sorted by name, each name once. Precedence, lowest first:
// PATH, HOME, LANG defaults < passed names < config < `skyport`.
// A config entry for a reserved name (PORT, SKYPORT_*) is dropped: those
// are the drone's to set.
std::vector<std::string> BuildAppEnv(const AppEnvInput& in);

// Checks --app-env-pass names: a valid environment variable name, and not
// one of the drone's own (SKYPORT_*: the token, its file, the settings).
Status ValidateEnvPass(const std::vector<std::string>& names);

// The process's own environment as "K=V" entries.
std::vector<std::string> ProcessEnviron();

}  // namespace skyport::drone
