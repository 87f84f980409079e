#include "registry/metrics.h"

#include "core/prom_text.h"

namespace skyport::registry {

std::string RenderMetrics(const OwnerStats& s) {
  PromText out;
  out.Counter("skyport_registry_calls_total", "RPCs applied by the owner.", static_cast<double>(s.calls));
  out.Counter("skyport_registry_batches_total", "Batches committed to storage.", static_cast<double>(s.batches));
  out.Counter("skyport_registry_commit_failures_total", "Batches lost to storage errors.",
              static_cast<double>(s.commit_failures));
  out.Counter("skyport_registry_commit_seconds_total", "Time spent committing batches.",
              static_cast<double>(s.commit_us_total) / 1e6);
  out.Counter("skyport_registry_leases_expired_total", "Leases removed because their TTL lapsed.",
              static_cast<double>(s.leases_expired));
  out.Counter("skyport_registry_stalls_total",
              "Times the registry found it had not been running (stopped, paused, stalled disk) and postponed every lease by that long.",
              static_cast<double>(s.stalls));
  out.Gauge("skyport_registry_revision", "Current revision.", static_cast<double>(s.revision));
  out.Gauge("skyport_registry_endpoints", "Registered endpoints.", static_cast<double>(s.endpoints));
  out.Gauge("skyport_registry_leases", "Live leases.", static_cast<double>(s.leases));
  out.Gauge("skyport_registry_allocations", "Live port allocations.", static_cast<double>(s.allocations));
  out.Gauge("skyport_registry_watchers", "Connected watchers.", static_cast<double>(s.watchers));
  return out.Take();
}

}  // namespace skyport::registry
