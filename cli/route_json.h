// RouteConfig <-> JSON for `skyport registry route get/set`.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

// Pretty JSON with proto field names (split_id, allow_override) and every
// field present, even when it holds its default; ends with a newline.
std::string RouteToJson(const v1::RouteConfig& route);

// Parses a RouteConfig. Accepts proto and lowerCamel field names. An unknown
// field, a malformed document or a wrong type is INVALID_ARGUMENT naming the
// field where it can.
Result<v1::RouteConfig> RouteFromJson(std::string_view json);

}  // namespace skyport::cli
