// The Flights gRPC service (for `skyport flight …`): a thin layer over the
// control tower. Every call checks the cluster token first.
#pragma once

#include <string>

#include "hub/flights/tower.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::hub {

class FlightService final : public v1::Flights::Service {
 public:
  FlightService(ControlTower* tower, std::string token) : tower_(tower), token_(std::move(token)) {}
  grpc::Status Start(grpc::ServerContext*, const v1::FlightStartRequest*, v1::FlightStatus*) override;
  grpc::Status Kill(grpc::ServerContext*, const v1::FlightKillRequest*, v1::FlightStatus*) override;
  grpc::Status List(grpc::ServerContext*, const v1::FlightListRequest*, v1::FlightListResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const v1::FlightStatusRequest*, v1::FlightStatus*) override;
  grpc::Status Log(grpc::ServerContext*, const v1::FlightLogRequest*, v1::FlightLogResponse*) override;

 private:
  ControlTower* tower_;
  std::string token_;
};

}  // namespace skyport::hub
