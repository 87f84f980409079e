#include "drone/app_runtime.h"

#include <algorithm>

namespace skyport::drone {
namespace {

template <class T>
T Capped(T ceiling, const std::optional<T>& asked) {
  if (!asked) return ceiling;
  return ceiling > 0 ? std::min(ceiling, *asked) : *asked;
}

}  // namespace

AppRuntime ResolveAppRuntime(const AppRuntimeDefaults& d, const AppResources& asked) {
  AppRuntime r;
  r.setup.user = d.user;
  r.setup.nice = d.nice;
  r.setup.limits.nofile = Capped(d.limits.nofile, asked.nofile);
  r.setup.limits.nproc = Capped(d.limits.nproc, asked.nproc);
  r.setup.limits.as_mb = Capped(d.limits.as_mb, asked.as_mb);
  r.cgroup.cpus = Capped(d.cgroup.cpus, asked.cpu);
  r.cgroup.memory_mb = Capped(d.cgroup.memory_mb, asked.memory_mb);
  r.stop_timeout_ms = asked.stop_timeout_ms.value_or(d.stop_timeout_ms);
  return r;
}

}  // namespace skyport::drone
