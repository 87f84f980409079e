// What an app runs, from its repository: the Procfile (`role: command`
// lines, Heroku style; `release:` is the build step) and an optional
// skyport.json with per-role options. Pure parsing.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/status.h"

namespace skyport::drone {

struct RoleSpec {
  std::string command;
  bool port = true;          // false: a worker, supervised but not registered
  std::string health_path;   // "": TCP readiness; else HTTP GET path
};

struct AppSpec {
  std::map<std::string, RoleSpec> roles;
  std::string release;                 // build step run in the checkout before starting ("" = none)
  int64_t release_timeout_ms = 600'000;
  int64_t min_uptime_ms = -1;          // -1: the drone's --min-uptime-ms
};

// Procfile: one `role: command` per line; blank lines and `#` comments
// skipped; roles must be valid names; duplicate roles are an error naming the line.
Result<AppSpec> ParseProcfile(const std::string& text);

// skyport.json (optional): {"release": "make", "release_timeout_s": 600,
//   "min_uptime_ms": 3000,
//   "roles": {"worker": {"port": false}, "web": {"health": "/healthz"}}}
// release_timeout_s: 1 second to 365 days; min_uptime_ms: 0 to 600000.
// Options for roles the Procfile lacks are an error; unknown keys too.
Status ApplySkyportJson(const std::string& text, AppSpec& spec);

}  // namespace skyport::drone
