// Input checks for registry requests. Each collects every problem, each named
// by its field path, into one INVALID_ARGUMENT.
#pragma once

#include <string_view>

#include <google/protobuf/message.h>

#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

// Fields a caller may set on Register (id, revision and times are ours).
Status ValidateEndpoint(const v1::Endpoint& ep);
// Routes: slices, if any, tile [0, 1000000) in order (contract/split.h's
// ValidateLayout), each of a commit with weight > 0; at most 32 path
// prefixes, each starting with '/', at most 256 bytes, without blanks,
// control characters or repeats. A flight, when present: name as an app
// name; id a split id equal to split_id; 2..16 arms named
// [a-z0-9][a-z0-9_-]{0,31}, each a commit; control one of the arms' commits;
// weights present, every weighted key one of the arms' commits (or an
// abbreviation); filter: at most 32 of each, channels 1..64 printable, oses
// from router/flight_match.h's six, locales language tags, header names
// lowercase HTTP tokens with clean values; range_key "" / "uid" / a cookie or
// header name [A-Za-z0-9_-]{1,64}; 0 <= range_ge < range_lt <= 1000000;
// end_by_unix_ms >= 0.
Status ValidateRoute(const v1::RouteConfig& route);
// At most kMaxAvoidPorts ports in `avoid`.
inline constexpr int kMaxAvoidPorts = 64;
Status ValidateAllocate(const v1::AllocateRequest& req);
// Fields the client knows and we do not (a newer or mistaken client).
Status RejectUnknownFields(const google::protobuf::Message& msg, std::string_view path);

}  // namespace skyport::registry
