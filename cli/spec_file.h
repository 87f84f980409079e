// Reads a flight spec file: JSON, or YAML (by extension .yaml/.yml, or when
// the text does not start with '{') converted to the equivalent JSON. Plain
// YAML scalars become null/booleans/numbers where they read as such; quoted
// ones stay strings.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::cli {

// The file's spec as JSON text. INVALID_ARGUMENT "FILE: …" for unreadable
// files and malformed YAML/JSON (with the line where known).
Result<std::string> SpecFileToJson(const std::string& path);
// Same, for text already read (`yaml` chooses the parser).
Result<std::string> SpecTextToJson(std::string_view text, bool yaml, const std::string& name);

}  // namespace skyport::cli
