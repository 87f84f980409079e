// StatsSink on the hub: routers ship experiment rows, the CLI and flight
// gates query the per-arm aggregates. Every call checks the cluster token.
#pragma once

#include <string>

#include "hub/stats_store.h"
#include "skyport/v1/router.grpc.pb.h"

namespace skyport::hub {

class StatsSinkService final : public v1::StatsSink::Service {
 public:
  StatsSinkService(StatsStore* store, std::string token) : store_(store), token_(std::move(token)) {}
  grpc::Status Ship(grpc::ServerContext*, const v1::ShipStatsRequest*, v1::ShipStatsResponse*) override;
  grpc::Status Query(grpc::ServerContext*, const v1::StatsQuery*, v1::StatsReport*) override;

 private:
  StatsStore* store_;
  std::string token_;
};

}  // namespace skyport::hub
