// Where the current route table lives. One writer (the registry watcher or the
// static-file loader) publishes; proxy workers notice a new version with one
// atomic load per event-loop turn and take their own reference then, so the
// hot path never locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "router/route_table.h"

namespace skyport::router {

class RouteHolder {
 public:
  void Publish(std::shared_ptr<const RouteTable> table) {
    std::lock_guard lock(mu_);
    table_ = std::move(table);
    version_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const RouteTable> Get() const {
    std::lock_guard lock(mu_);
    return table_;
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const RouteTable> table_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace skyport::router
