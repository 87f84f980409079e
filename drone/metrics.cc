#include "drone/metrics.h"

#include <atomic>

#include "core/prom_text.h"

namespace skyport::drone::metrics {
namespace {

std::atomic<uint64_t> symlink{0}, not_regular{0}, too_big{0}, escaped{0}, orphans{0}, leftovers{0}, audit_missing{0},
    audit_stray{0}, audit_outdated{0}, audit_failed{0}, port_clashes{0}, gc_checkouts{0}, gc_log_dirs{0},
    gc_bytes{0};

}  // namespace

void CountCheckoutReject(Reject why) {
  (why == Reject::kSymlink ? symlink : why == Reject::kNotRegular ? not_regular : too_big).fetch_add(1);
}
void CountEscaped(uint64_t n) { escaped.fetch_add(n); }
void CountOrphanKilled() { orphans.fetch_add(1); }
void CountLeftoverCgroups(uint64_t n) { leftovers.fetch_add(n); }
void CountPortClash() { port_clashes.fetch_add(1); }
void CountAuditFailed() { audit_failed.fetch_add(1); }
void CountAuditRepairs(uint64_t missing, uint64_t stray, uint64_t outdated) {
  audit_missing.fetch_add(missing);
  audit_stray.fetch_add(stray);
  audit_outdated.fetch_add(outdated);
}

void CountGc(uint64_t checkouts, uint64_t log_dirs, uint64_t bytes) {
  gc_checkouts.fetch_add(checkouts);
  gc_log_dirs.fetch_add(log_dirs);
  gc_bytes.fetch_add(bytes);
}

std::string Render() {
  PromText out;
  out.Family("skyport_drone_checkout_files_rejected_total", PromType::kCounter,
             "Procfile/skyport.json refused: a symlink, not a regular file, or over the size cap.");
  out.Sample("skyport_drone_checkout_files_rejected_total", {{"reason", "symlink"}}, symlink.load());
  out.Sample("skyport_drone_checkout_files_rejected_total", {{"reason", "not_regular"}}, not_regular.load());
  out.Sample("skyport_drone_checkout_files_rejected_total", {{"reason", "too_big"}}, too_big.load());
  out.Counter("skyport_drone_escaped_processes_total", "Processes found outside their instance's process group.",
              escaped.load());
  out.Counter("skyport_drone_orphans_killed_total", "Adopted orphans that belonged to no instance, killed.",
              orphans.load());
  out.Counter("skyport_drone_leftover_cgroups_killed_total", "Instance cgroups of a previous run found populated.",
              leftovers.load());
  out.Counter("skyport_drone_port_clashes_total",
              "Allocated ports found held by a process outside the cluster (before the spawn or at readiness); "
              "another port was allocated, up to --port-clash-retries per instance.",
              port_clashes.load());
  out.Family("skyport_drone_registry_audit_repairs_total", PromType::kCounter,
             "Registry entries under the drone's lease that an audit found lost (registered again), not its own "
             "(removed) or holding older content (registered again): a store restored from a backup.");
  out.Sample("skyport_drone_registry_audit_repairs_total", {{"kind", "missing"}}, audit_missing.load());
  out.Sample("skyport_drone_registry_audit_repairs_total", {{"kind", "stray"}}, audit_stray.load());
  out.Sample("skyport_drone_registry_audit_repairs_total", {{"kind", "outdated"}}, audit_outdated.load());
  out.Counter("skyport_drone_registry_audit_failures_total",
              "Audits of the drone's registry lease that failed (tried again at the next interval).", audit_failed.load());
  out.Family("skyport_drone_gc_removed_total", PromType::kCounter,
             "Stopped commits' checkouts and log directories deleted once --retention expired.");
  out.Sample("skyport_drone_gc_removed_total", {{"kind", "checkout"}}, gc_checkouts.load());
  out.Sample("skyport_drone_gc_removed_total", {{"kind", "logs"}}, gc_log_dirs.load());
  out.Counter("skyport_drone_gc_freed_bytes_total", "Bytes the disk janitor freed.", gc_bytes.load());
  return out.Take();
}

}  // namespace skyport::drone::metrics
