// The registry's counters and their Prometheus text rendering.
#pragma once

#include <cstdint>
#include <string>

namespace skyport::registry {

struct OwnerStats {
  uint64_t batches = 0;
  uint64_t calls = 0;
  uint64_t commit_failures = 0;
  uint64_t leases_expired = 0;
  uint64_t stalls = 0;  // loop turns late enough that every lease was postponed (lease_table.h StalledMs)
  uint64_t commit_us_total = 0;
  int64_t revision = 0;
  uint64_t endpoints = 0;
  uint64_t leases = 0;
  uint64_t allocations = 0;
  uint64_t watchers = 0;
};

// Prometheus text exposition format (version 0.0.4).
std::string RenderMetrics(const OwnerStats& s);

}  // namespace skyport::registry
