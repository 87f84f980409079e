// The hub leader contract, shared by the hubs (which implement it) and every
// client of the Hub, Flights and DroneControl services (which follow it).
//
// Several hubs serve one cluster; one leads, the others stand by. A standby
// answers every command RPC (Hub.*, Flights.*, DroneControl.*) without
// running it: gRPC status UNAVAILABLE, trailing metadata
//   skyport-standby: 1
//   skyport-leader: HOST:PORT   (the leader's gRPC address; absent while no
//                                leader is known, e.g. during an election)
// Because `skyport-standby` says the call did not run, a client may send any
// call, even a write, on to the leader (or the next address of its list). A
// client goes to the named leader next, even when it is not in its list, at
// most kMaxLeaderHops times per call (two standbys that name each other must
// not loop), and logs each hop. A leader value that is not a valid HOST:PORT
// (core/address_list.h) is ignored as if absent.
//
// StatsSink (Ship, Query) is not a command service: every hub, standby or
// not, stores the experiment data routers ship to it (routers ship every
// batch to every hub; each deduplicates by batch id), and answers queries.
//
// Git over HTTP: a standby answers 307 Temporary Redirect with
// `Location: http(s)://LEADER-GIT-ADDRESS/<same path and query>` (git follows
// it, keeping the method and body), or 503 while no leader is known.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

namespace skyport::rpc {

inline constexpr char kStandbyKey[] = "skyport-standby";
inline constexpr char kLeaderKey[] = "skyport-leader";
inline constexpr int kMaxLeaderHops = 3;

// What a standby returns from a command RPC (server side): UNAVAILABLE with
// the metadata above; `leader` "" when none is known.
grpc::Status StandbyAnswer(grpc::ServerContext& ctx, const std::string& leader);

// A standby's refusal, read by a client after a call ended with `status`.
struct StandbyRefusal {
  std::string leader;  // "" when the standby named none (or an invalid one)
};
// The refusal when `status` is UNAVAILABLE and `ctx`'s trailing metadata
// carries skyport-standby; nullopt for any other outcome.
std::optional<StandbyRefusal> ReadStandbyRefusal(const grpc::ClientContext& ctx, const grpc::Status& status);

}  // namespace skyport::rpc
