#include "cli/route_json.h"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

namespace skyport::cli {
namespace {

// protobuf's own message for an unknown field does not always say which one;
// check the top level (the only level with fixed names) first.
Status CheckKnownFields(const nlohmann::json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("route: expected a JSON object");
  const auto* desc = v1::RouteConfig::descriptor();
  for (const auto& [key, value] : doc.items()) {
    (void)value;
    if (desc->FindFieldByName(key) == nullptr && desc->FindFieldByCamelcaseName(key) == nullptr) {
      std::string known;
      for (int i = 0; i < desc->field_count(); ++i)
        known += (i ? ", " : "") + desc->field(i)->name();
      return Status::InvalidArgument("route: unknown field \"" + key + "\" (known: " + known + ")");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string RouteToJson(const v1::RouteConfig& route) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(route, &out, opts);
  if (!st.ok()) return "{}\n";  // cannot happen for a well-formed message
  // Re-indent (protobuf uses one space) to match the other commands' output,
  // keeping protobuf's field order.
  auto doc = nlohmann::ordered_json::parse(out, nullptr, false);
  if (doc.is_discarded()) return out;
  return doc.dump(2) + "\n";
}

Result<v1::RouteConfig> RouteFromJson(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (doc.is_discarded()) return Status::InvalidArgument("route: not valid JSON");
  if (Status s = CheckKnownFields(doc); !s.ok()) return s;
  v1::RouteConfig route;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &route, opts);
  if (!st.ok()) return Status::InvalidArgument("route: " + std::string(st.message()));
  return route;
}

}  // namespace skyport::cli
