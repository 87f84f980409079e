#include "contract/unknown_fields.h"

#include <string>
#include <vector>

#include <google/protobuf/unknown_field_set.h>

#include <fmt/format.h>

#include "core/problems.h"

namespace skyport::contract {
namespace {

void CheckUnknown(const google::protobuf::Message& msg, const std::string& path, Problems& p) {
  const auto* refl = msg.GetReflection();
  const auto& unknown = refl->GetUnknownFields(msg);
  for (int i = 0; i < unknown.field_count(); ++i)
    p.Add(fmt::format("{}: unknown field #{}", path, unknown.field(i).number()));
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(msg, f); ++i)
        CheckUnknown(refl->GetRepeatedMessage(msg, f, i), fmt::format("{}.{}[{}]", path, f->name(), i), p);
    } else {
      CheckUnknown(refl->GetMessage(msg, f), path + "." + f->name(), p);
    }
  }
}

}  // namespace

Status RejectUnknownFields(const google::protobuf::Message& msg, std::string_view path) {
  Problems p;
  CheckUnknown(msg, std::string(path), p);
  return p.ToStatus();
}

}  // namespace skyport::contract
