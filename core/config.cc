#include "core/config.h"

#include <cstdlib>

namespace skyport {

namespace {

void AppendUpper(std::string& out, std::string_view name) {
  for (char c : name) {
    if (c == '-' || c == '.') out += '_';
    else if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 'A');
    else out += c;
  }
}

}  // namespace

std::string EnvName(std::string_view program, std::string_view name) {
  std::string out = "SKYPORT_";
  if (!program.empty()) {
    AppendUpper(out, program);
    out += '_';
  }
  AppendUpper(out, name);
  return out;
}

std::string EnvNameForFlag(std::string_view flag, std::string_view program) {
  while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
  return EnvName(program, flag);
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

bool EnvOverridesFile(std::string_view flag, const EnvLookup& env, std::string_view program) {
  return env(EnvNameForFlag(flag, program)).has_value();
}

}  // namespace skyport
