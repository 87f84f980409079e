// How an app's processes run: the drone's settings (flags: defaults and
// ceilings) combined with what its skyport.json asks for. Pure.
#pragma once

#include <cstdint>
#include <optional>

#include "drone/cgroup.h"
#include "drone/child_setup.h"
#include "drone/procfile.h"

namespace skyport::drone {

struct AppRuntimeDefaults {
  std::optional<AppUser> user;  // --app-user
  AppLimits limits;             // --app-nofile, --app-nproc, --app-as-mb (0: unlimited)
  std::optional<int> nice;      // absolute, from --app-nice over the drone's own
  CgroupLimits cgroup;          // --app-cpu, --app-memory-mb (0: unlimited)
  int64_t stop_timeout_ms = 5'000;  // --stop-timeout
};

struct AppRuntime {
  ChildSetup setup;
  CgroupLimits cgroup;
  int64_t stop_timeout_ms = 0;
};

// Each limit: the app's value if it asks for one and it is not above the
// drone's (non-zero) setting, else the drone's. The stop timeout is the
// app's if it sets one (bounded by skyport.json's range).
AppRuntime ResolveAppRuntime(const AppRuntimeDefaults& d, const AppResources& asked);

}  // namespace skyport::drone
