// The lines `skyport logs` prints for Hub.Logs messages. Pure.
//
// Text: `<drone> <role>.<instance> <commit12> | <text>`, with `!` instead of
// `|` for the stderr stream. JSON: {"drone","commit","role","instance",
// "stream","text","unix_ms"}.
#pragma once

#include <string>

#include "skyport/v1/hub.pb.h"

namespace skyport::cli {

// Without a trailing newline (one the drone left on `text` is dropped).
std::string LogText(const v1::LogLine& line);
std::string LogJson(const v1::LogLine& line);

}  // namespace skyport::cli
