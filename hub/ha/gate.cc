#include "hub/ha/gate.h"

#include "rpc/leader.h"

namespace skyport::hub {

std::optional<grpc::Status> StandbyCheck(const LeaderGate* gate, grpc::ServerContext& ctx) {
  if (gate == nullptr || gate->Leading()) return std::nullopt;
  return rpc::StandbyAnswer(ctx, gate->LeaderGrpc());
}

}  // namespace skyport::hub
