// What an app runs, from its repository: the Procfile (`role: command`
// lines, Heroku style; `release:` is the build step) and an optional
// skyport.json with per-role options. Pure parsing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/status.h"

namespace skyport::drone {

struct RoleSpec {
  std::string command;
  bool port = true;          // false: a worker, supervised but not registered
  std::string health_path;   // "": TCP readiness; else HTTP GET path
};

// What the app asks for; the drone's flags are the defaults and the
// ceilings (an app may only lower them).
struct AppResources {
  std::optional<uint64_t> nofile, nproc, as_mb;  // rlimits
  std::optional<double> cpu;                     // CPUs, cgroup cpu.max
  std::optional<uint64_t> memory_mb;             // cgroup memory.max
  std::optional<int64_t> stop_timeout_ms;        // SIGTERM -> SIGKILL
};

struct AppSpec {
  std::map<std::string, RoleSpec> roles;
  std::string release;                 // build step run in the checkout before starting ("" = none)
  int64_t release_timeout_ms = 600'000;
  AppResources resources;
  int64_t min_uptime_ms = -1;          // -1: the drone's --min-uptime-ms
};

// Procfile: one `role: command` per line; blank lines and `#` comments
// skipped; roles must be valid names; duplicate roles are an error naming the line.
Result<AppSpec> ParseProcfile(const std::string& text);

// skyport.json (optional): {"release": "make", "release_timeout_s": 600,
//   "min_uptime_ms": 3000,
//   "roles": {"worker": {"port": false}, "web": {"health": "/healthz"}},
//   "limits": {"nofile": 1024, "nproc": 256, "as_mb": 2048},
//   "cpu": 0.5, "memory_mb": 512, "stop_timeout_s": 10}
// release_timeout_s: 1 second to 365 days; min_uptime_ms: 0 to 600000.
// Options for roles the Procfile lacks are an error; unknown keys too; every
// number has a range (the error names it).
Status ApplySkyportJson(const std::string& text, AppSpec& spec);

}  // namespace skyport::drone
