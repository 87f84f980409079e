// Protobuf fields a sender set that this build does not know (a newer or
// mistaken client): refused rather than silently dropped.
#pragma once

#include <string_view>

#include <google/protobuf/message.h>

#include "core/status.h"

namespace skyport::contract {

// OK if neither `msg` nor any message inside it carries unknown fields; else
// INVALID_ARGUMENT naming each by its field path under `path`
// ("req.endpoint: unknown field #42").
Status RejectUnknownFields(const google::protobuf::Message& msg, std::string_view path);

}  // namespace skyport::contract
