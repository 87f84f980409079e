// The standby gate: what the hub's command services (Hub, Flights,
// DroneControl) and its git listener ask before doing anything. With several
// hubs only the leader runs commands; a standby answers per the leader
// contract (proto/rpc/leader.h). A null gate means a single hub that always
// leads (--store sqlite).
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

namespace skyport::hub {

class LeaderGate {
 public:
  virtual ~LeaderGate() = default;
  // True only while this hub leads AND has taken over (desired state loaded).
  virtual bool Leading() const = 0;
  // The leader's addresses as last known; "" when none is known.
  virtual std::string LeaderGrpc() const = 0;
  virtual std::string LeaderGit() const = 0;  // base URL, "http://h:p"
};

// nullopt: go on (we lead, or there is no gate); else the standby answer to return.
std::optional<grpc::Status> StandbyCheck(const LeaderGate* gate, grpc::ServerContext& ctx);

}  // namespace skyport::hub
