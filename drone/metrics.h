// The drone's counters for the bounds it puts on apps, process-wide (the
// drone is one process), rendered as Prometheus text on its metrics
// listener (--metrics-listen).
#pragma once

#include <cstdint>
#include <string>

namespace skyport::drone::metrics {

enum class Reject { kSymlink, kNotRegular, kTooBig };

// A Procfile / skyport.json refused (drone/checkout_files.h).
void CountCheckoutReject(Reject why);
// Processes found outside their instance's group (tracked and stopped with it).
void CountEscaped(uint64_t n);
// Adopted orphans that belonged to no instance, killed.
void CountOrphanKilled();
// Instance cgroups a previous run left populated, killed at start.
void CountLeftoverCgroups(uint64_t n);

// A port an instance was allocated that a process outside the cluster holds
// (found before the spawn, or at readiness); another is allocated.
void CountPortClash();

// Registry entries an audit found lost (registered again), not ours
// (removed) or holding older content than registered (registered again).
void CountAuditRepairs(uint64_t missing, uint64_t stray, uint64_t outdated);
// An audit whose Query the registry did not answer with the lease's entries.
void CountAuditFailed();

// The disk janitor (drone/disk_janitor.h) removed these stopped commits'
// checkouts and log directories, freeing `bytes`.
void CountGc(uint64_t checkouts, uint64_t log_dirs, uint64_t bytes);

std::string Render();

}  // namespace skyport::drone::metrics
