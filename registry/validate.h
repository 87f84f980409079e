// Input checks for registry requests. Each collects every problem, each named
// by its field path, into one INVALID_ARGUMENT. Routes follow the route
// contract (contract/route.h ValidateRoute).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

// Fields a caller may set on Register (id, revision and times are ours).
Status ValidateEndpoint(const v1::Endpoint& ep);
// The registered_unix_ms of a new entry: the caller's (a drone gives its
// commit's deploy time, so that a rolling restart does not make an older
// commit the one registered last) when it is > 0 and at most
// kMaxRegisteredAheadMs past `now_wall_ms` (clock skew), else `now_wall_ms`.
inline constexpr int64_t kMaxRegisteredAheadMs = 60'000;
int64_t RegisteredAt(const v1::Endpoint& in, int64_t now_wall_ms);
// At most kMaxAvoidPorts ports in `avoid`.
inline constexpr int kMaxAvoidPorts = 64;
Status ValidateAllocate(const v1::AllocateRequest& req);
// Query filters: each may be empty (= any).
Status ValidateQuery(const std::string& app, const std::string& commit_prefix, const std::string& role);
// Whether `ep` passes the (validated) filters; `commit_prefix` matches a prefix.
bool MatchesQuery(const v1::Endpoint& ep, const std::string& app, const std::string& commit_prefix,
                  const std::string& role);

}  // namespace skyport::registry
