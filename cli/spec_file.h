// Reads a flight spec file: JSON, or YAML (by extension .yaml/.yml, or when
// the text does not start with '{') converted to the equivalent JSON. Plain
// YAML scalars become null/booleans/numbers where they read as such; quoted
// ones stay strings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::cli {

// Bounds, so that a hostile document fails fast in little memory: bytes read
// (larger: refused before parsing), values produced from YAML (aliases make
// "billion laughs" of a few hundred bytes) and bytes of their strings;
// nesting is bounded by hub::kMaxSpecDepth.
inline constexpr size_t kMaxSpecFileBytes = 1 << 20;
inline constexpr size_t kMaxYamlNodes = 100'000;
inline constexpr size_t kMaxYamlScalarBytes = 4 << 20;

// The file's spec as JSON text. INVALID_ARGUMENT "FILE: …" for unreadable
// files and malformed YAML/JSON (with the line where known).
Result<std::string> SpecFileToJson(const std::string& path);
// Same, for text already read (`yaml` chooses the parser). Pure (no I/O,
// never throws): the fuzz target's entry point. Errors echo at most
// kMaxEchoBytes of the input (core/problems.h).
Result<std::string> SpecTextToJson(std::string_view text, bool yaml, const std::string& name);

}  // namespace skyport::cli
