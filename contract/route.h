// The route contract: what a RouteConfig may hold (the registry refuses
// anything else; the hub checks a flight's route against the same rules
// before writing it) and which layout routers use for it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "contract/split.h"
#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::contract {

// Collects every problem, each named by its field path, into one
// INVALID_ARGUMENT. No unknown fields (contract/unknown_fields.h); app a
// name; weights of commits, each <= 1000000, not all 0; split_id at most 64
// of [A-Za-z0-9._-]; hosts host names. Slices, if any, tile [0, 1000000) in
// order (as ValidateLayout, but reporting every problem), each of a commit
// with weight > 0; at most 32 path prefixes, each starting with '/', at most
// 256 bytes, without blanks, control characters or repeats. A flight, when
// present: name as an app name; id a split id equal to split_id; 2..16 arms
// named [a-z0-9][a-z0-9_-]{0,31}, each a commit; control one of the arms'
// commits; weights present, every weighted key one of the arms' commits (or
// an abbreviation); filter: at most 32 of each, channels 1..64 printable,
// oses from core/names.h's six (IsOsName), locales language tags, header names
// lowercase HTTP tokens with clean values; range_key "" / "uid" / a cookie or
// header name [A-Za-z0-9_-]{1,64}; 0 <= range_ge < range_lt <= 1000000;
// end_by_unix_ms >= 0.
Status ValidateRoute(const v1::RouteConfig& route);

// The layout routers use for `route`, commits as written in it: its own
// slices if ValidateLayout passes and every slice's commit has weight > 0,
// else LayoutFresh over the weights in commit order (empty if none > 0).
std::vector<router::Slice> EffectiveLayout(const v1::RouteConfig& route);

// After a deploy of APP at `commit` (`skyport deploy`, or a deploy on push):
// when the app's route splits traffic and gives `commit` (full) no weight, the
// note that it gets no traffic and the `skyport split` command that would send
// it about 10% of users (the others' weights kept); nullopt otherwise.
std::optional<std::string> DeployedOutsideSplitNote(const std::string& app, const std::string& commit,
                                                    const v1::RouteConfig& route);

}  // namespace skyport::contract
