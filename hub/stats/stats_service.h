// StatsSink on the hub: routers ship experiment rows, the CLI and flight
// gates query the per-arm aggregates. Every call checks the cluster token;
// every shipment is checked against ShipLimits (hub/stats/stats_check.h) first.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "hub/stats/stats_check.h"
#include "hub/stats/stats_store.h"
#include "skyport/v1/router.grpc.pb.h"

namespace skyport::hub {

class StatsSinkService final : public v1::StatsSink::Service {
 public:
  StatsSinkService(StatsStore* store, std::string token, ShipLimits limits = {})
      : store_(store), token_(std::move(token)), limits_(limits) {}
  grpc::Status Ship(grpc::ServerContext*, const v1::ShipStatsRequest*, v1::ShipStatsResponse*) override;
  grpc::Status Query(grpc::ServerContext*, const v1::StatsQuery*, v1::StatsReport*) override;

  // Prometheus text: batches refused, rows dropped by the store's bounds.
  std::string MetricsText() const;

 private:
  StatsStore* store_;
  std::string token_;
  const ShipLimits limits_;
  std::atomic<uint64_t> refused_batches_{0}, dropped_event_names_{0}, dropped_full_{0}, refused_routers_{0};
  std::atomic<uint64_t> evicted_exposures_{0};
  std::atomic<int64_t> last_refusal_log_s_{0}, last_drop_log_s_{0}, last_router_log_s_{0}, last_evict_log_s_{0};
};

}  // namespace skyport::hub
