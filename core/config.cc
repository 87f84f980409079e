#include "core/config.h"

#include <cstdlib>

namespace skyport {

std::string EnvNameForFlag(std::string_view flag) {
  while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
  std::string out = "SKYPORT_";
  for (char c : flag) {
    if (c == '-' || c == '.') out += '_';
    else if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 'A');
    else out += c;
  }
  return out;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

bool EnvOverridesFile(std::string_view flag, const EnvLookup& env) {
  return env(EnvNameForFlag(flag)).has_value();
}

}  // namespace skyport
