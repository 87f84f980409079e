#include "registry/metrics.h"

#include <fmt/format.h>

namespace skyport::registry {
namespace {

void Metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

}  // namespace

std::string RenderMetrics(const OwnerStats& s) {
  std::string out;
  Metric(out, "skyport_registry_calls_total", "counter", "RPCs applied by the owner.", static_cast<double>(s.calls));
  Metric(out, "skyport_registry_batches_total", "counter", "Batches committed to storage.", static_cast<double>(s.batches));
  Metric(out, "skyport_registry_commit_failures_total", "counter", "Batches lost to storage errors.",
         static_cast<double>(s.commit_failures));
  Metric(out, "skyport_registry_commit_seconds_total", "counter", "Time spent committing batches.",
         static_cast<double>(s.commit_us_total) / 1e6);
  Metric(out, "skyport_registry_leases_expired_total", "counter", "Leases removed because their TTL lapsed.",
         static_cast<double>(s.leases_expired));
  Metric(out, "skyport_registry_stalls_total", "counter",
         "Times the registry found it had not been running (stopped, paused, stalled disk) and postponed every lease by that long.",
         static_cast<double>(s.stalls));
  Metric(out, "skyport_registry_revision", "gauge", "Current revision.", static_cast<double>(s.revision));
  Metric(out, "skyport_registry_endpoints", "gauge", "Registered endpoints.", static_cast<double>(s.endpoints));
  Metric(out, "skyport_registry_leases", "gauge", "Live leases.", static_cast<double>(s.leases));
  Metric(out, "skyport_registry_allocations", "gauge", "Live port allocations.", static_cast<double>(s.allocations));
  Metric(out, "skyport_registry_watchers", "gauge", "Connected watchers.", static_cast<double>(s.watchers));
  return out;
}

}  // namespace skyport::registry
