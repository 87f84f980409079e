#include "core/json_fields.h"

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

namespace skyport {

void CheckKnownFields(const nlohmann::json& obj, std::string_view path, std::span<const std::string_view> known,
                      Problems& problems, std::span<const std::string_view> aliases) {
  if (!obj.is_object()) return;
  std::string list;  // built on the first unknown key only: the common case has none
  for (const auto& [key, value] : obj.items()) {
    (void)value;
    if (std::find(known.begin(), known.end(), key) != known.end() ||
        std::find(aliases.begin(), aliases.end(), key) != aliases.end())
      continue;
    if (list.empty())
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    std::string field = path.empty() ? key : std::string(path) + "." + key;
    problems.Add(field, "unknown field (known: " + list + ")");
  }
}

}  // namespace skyport
