// One check of a JSON object's keys against the names its parser knows, with
// one message for every parser that reads a document from a person (flight
// specs, gates, static routes, `skyport route set` files).
#pragma once

#include <initializer_list>
#include <span>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/problems.h"

namespace skyport {

// Adds "<path>.<key>: unknown field (known: a, b, c)" ("<key>: …" when path is
// empty) to `problems` for each key of `obj` that is neither in `known` nor in
// `aliases` (spellings accepted but not advertised, e.g. protobuf's camelCase
// JSON names). The known names are listed in the order given. A non-object has
// no keys: nothing is added (the caller reports its type).
void CheckKnownFields(const nlohmann::json& obj, std::string_view path, std::span<const std::string_view> known,
                      Problems& problems, std::span<const std::string_view> aliases = {});

inline void CheckKnownFields(const nlohmann::json& obj, std::string_view path,
                             std::initializer_list<std::string_view> known, Problems& problems) {
  CheckKnownFields(obj, path, std::span<const std::string_view>(known.begin(), known.size()), problems);
}

}  // namespace skyport
