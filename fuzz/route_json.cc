// libFuzzer target: route configs in JSON as `skyport registry route set`
// reads them (cli/route_json.h RouteFromJson, protobuf's JSON parser behind a
// field check), then the registry's validation of the message
// (contract/route.h ValidateRoute). A parsed route prints back to JSON that
// parses to the same message.
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/util/message_differencer.h>

#include "fuzz/check.h"
#include "cli/route_json.h"
#include "contract/route.h"
#include "contract/unknown_fields.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto route = skyport::cli::RouteFromJson(text);
  if (!route.ok()) return 0;
  (void)skyport::contract::ValidateRoute(*route);
  (void)skyport::contract::RejectUnknownFields(*route, "route");
  auto again = skyport::cli::RouteFromJson(skyport::cli::RouteToJson(*route));
  CHECK(again.ok() && google::protobuf::util::MessageDifferencer::Equals(*route, *again));
  return 0;
}
