#include "cli/route_json.h"

#include <string_view>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "core/json_fields.h"

namespace skyport::cli {
namespace {

// protobuf's own message for an unknown field does not always say which one;
// check the top level (the only level with fixed names) first. The camelCase
// spellings protobuf accepts are accepted, not listed.
Status CheckTopLevelFields(const nlohmann::json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("route: expected a JSON object");
  const auto* desc = v1::RouteConfig::descriptor();
  std::vector<std::string_view> names, camel;
  for (int i = 0; i < desc->field_count(); ++i) {
    names.push_back(desc->field(i)->name());
    camel.push_back(desc->field(i)->camelcase_name());
  }
  Problems problems;
  CheckKnownFields(doc, "route", names, problems, camel);
  return problems.ToStatus();
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
  if (Status s = CheckTopLevelFields(doc); !s.ok()) return s;
  v1::RouteConfig route;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &route, opts);
  if (!st.ok()) return Status::InvalidArgument("route: " + std::string(st.message()));
  return route;
}

}  // namespace skyport::cli
