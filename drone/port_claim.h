// An instance's port: allocated by the registry, then checked free on this
// host before the instance is spawned. A port some process outside the
// cluster already holds (a port clash) is avoided and another one allocated,
// up to a bound. Thread-safe (the counter is shared by concurrent deploys).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "drone/supervisor.h"

namespace skyport::drone {

class PortClaimer {
 public:
  // allocate(avoid): the registry's Allocate for one instance.
  using AllocateFn = std::function<Result<uint32_t>(const std::vector<uint32_t>& avoid)>;
  // is_free(port): PortIsFree in production; a fake in tests.
  using IsFreeFn = std::function<bool(uint32_t port)>;

  PortClaimer(int max_clashes, IsFreeFn is_free) : max_clashes_(max_clashes), is_free_(std::move(is_free)) {}

  // A port that is free right now. `avoid` carries the ports found taken
  // (in and out: a later clash of the same instance adds to it). Fails with
  // RESOURCE_EXHAUSTED naming the ports once more than `max_clashes` were
  // taken for this instance.
  Result<uint32_t> Claim(const InstanceKey& key, const AllocateFn& allocate, std::vector<uint32_t>* avoid);

  // Counts a clash found later (the readiness check saw a stranger); false
  // when the instance has had more than `max_clashes`.
  bool NoteClash(const InstanceKey& key, uint32_t port, const std::string& who, std::vector<uint32_t>* avoid);

  uint64_t clashes() const { return clashes_.load(); }
  int max_clashes() const { return max_clashes_; }

 private:
  const int max_clashes_;
  const IsFreeFn is_free_;
  std::atomic<uint64_t> clashes_{0};
};

}  // namespace skyport::drone
