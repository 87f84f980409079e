// The Flights gRPC service (for `skyport flight …`): a thin layer over the
// control tower. Every call checks the cluster token first.
#pragma once

#include <atomic>
#include <string>

#include "hub/flights/tower.h"
#include "hub/ha/gate.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::hub {

class FlightService final : public v1::Flights::Service {
 public:
  // `tower` may be null until set_tower (a standby opens its tower when it becomes leader).
  FlightService(ControlTower* tower, std::string token, const LeaderGate* gate = nullptr)
      : tower_(tower), token_(std::move(token)), gate_(gate) {}
  void set_tower(ControlTower* tower) { tower_.store(tower); }
  ControlTower* tower() const { return tower_.load(); }
  grpc::Status Start(grpc::ServerContext*, const v1::FlightStartRequest*, v1::FlightStatus*) override;
  grpc::Status Kill(grpc::ServerContext*, const v1::FlightKillRequest*, v1::FlightStatus*) override;
  grpc::Status List(grpc::ServerContext*, const v1::FlightListRequest*, v1::FlightListResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const v1::FlightStatusRequest*, v1::FlightStatus*) override;
  grpc::Status Log(grpc::ServerContext*, const v1::FlightLogRequest*, v1::FlightLogResponse*) override;

 private:
  // OK with the tower to use, or the answer to return: bad token, standby, tower not open yet.
  grpc::Status Admit(grpc::ServerContext& ctx, ControlTower*& tower) const;

  std::atomic<ControlTower*> tower_;
  std::string token_;
  const LeaderGate* gate_;
};

}  // namespace skyport::hub
