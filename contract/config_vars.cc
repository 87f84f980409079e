#include "contract/config_vars.h"

#include <cctype>

#include <fmt/format.h>

namespace skyport {
namespace {

bool KeyChar(char c, bool first) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

// A key fit to quote in a message: short and printable, else only its size.
std::string Quoted(std::string_view key) {
  if (key.size() > 64) return fmt::format("a {}-byte name", key.size());
  for (char c : key)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return "a name with unprintable bytes";
  return fmt::format("\"{}\"", key);
}

}  // namespace

bool IsReservedConfigKey(std::string_view key) {
  if (key == "PORT" || key == "PATH" || key == "HOME") return true;
  // SKYPORT_ in any case: Skyport_Token would only confuse.
  constexpr std::string_view kPrefix = "SKYPORT_";
  if (key.size() < kPrefix.size()) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(key[i])) != kPrefix[i]) return false;
  return true;
}

Status ValidateConfigKey(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("config: an empty name (KEY=VALUE needs a KEY)");
  if (key.size() > kMaxConfigKeyBytes)
    return Status::InvalidArgument(fmt::format("config: {} is longer than {} bytes", Quoted(key), kMaxConfigKeyBytes));
  for (size_t i = 0; i < key.size(); ++i)
    if (!KeyChar(key[i], i == 0))
      return Status::InvalidArgument(fmt::format(
          "config: {} is not a variable name (letters, digits and _, not starting with a digit)", Quoted(key)));
  if (IsReservedConfigKey(key))
    return Status::InvalidArgument(fmt::format(
        "config: {} is set by the drone for every app (PORT, PATH, HOME and SKYPORT_* are reserved)", Quoted(key)));
  return Status::Ok();
}

Status ValidateConfigValue(std::string_view key, std::string_view value) {
  if (value.size() > kMaxConfigValueBytes)
    return Status::InvalidArgument(
        fmt::format("config: the value of {} is longer than {} bytes", Quoted(key), kMaxConfigValueBytes));
  if (value.find('\0') != std::string_view::npos)
    return Status::InvalidArgument(fmt::format("config: the value of {} holds a NUL byte", Quoted(key)));
  return Status::Ok();
}

Result<std::pair<std::string, std::string>> ParseConfigAssignment(std::string_view arg, size_t position) {
  const size_t eq = arg.find('=');
  // The argument may be a value typed without its name: never echo it.
  if (eq == std::string_view::npos)
    return Status::InvalidArgument(fmt::format("config: argument {} is not KEY=VALUE (no '=')", position));
  std::string key(arg.substr(0, eq));
  std::string value(arg.substr(eq + 1));
  if (Status s = ValidateConfigKey(key); !s.ok()) return s;
  if (Status s = ValidateConfigValue(key, value); !s.ok()) return s;
  return std::make_pair(std::move(key), std::move(value));
}

Result<std::map<std::string, std::string>> ApplyConfigChange(const std::map<std::string, std::string>& vars,
                                                             const ConfigChange& change) {
  std::string problems;
  auto note = [&](const Status& s) {
    if (!s.ok()) problems += (problems.empty() ? "" : "\n") + s.message();
  };
  if (change.set.size() + change.unset.size() > kMaxConfigChangeKeys)
    note(Status::InvalidArgument(fmt::format("config: at most {} keys per change", kMaxConfigChangeKeys)));
  for (const auto& [k, v] : change.set) {
    Status s = ValidateConfigKey(k);
    note(s);
    if (s.ok()) note(ValidateConfigValue(k, v));
  }
  for (const auto& k : change.unset) {
    note(ValidateConfigKey(k));
    if (change.set.count(k)) note(Status::InvalidArgument(fmt::format("config: {} is both set and unset", Quoted(k))));
  }
  if (!problems.empty()) return Status::InvalidArgument(problems);
  std::map<std::string, std::string> out = vars;
  for (const auto& k : change.unset) out.erase(k);
  for (const auto& [k, v] : change.set) out[k] = v;
  if (out.size() > kMaxConfigVars)
    return Status::InvalidArgument(
        fmt::format("config: {} vars; an app may have at most {}", out.size(), kMaxConfigVars));
  size_t total = 0;
  for (const auto& [k, v] : out) total += k.size() + v.size();
  if (total > kMaxConfigTotalBytes)
    return Status::InvalidArgument(
        fmt::format("config: {} bytes of names and values; an app may have at most {}", total, kMaxConfigTotalBytes));
  return out;
}

std::map<std::string, std::string> MaskConfig(const std::map<std::string, std::string>& vars, bool reveal) {
  if (reveal) return vars;
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : vars) out.emplace(k, std::string(kConfigMask));
  return out;
}

std::map<std::string, std::string> MergeConfigEnv(const std::map<std::string, std::string>& config,
                                                  const std::map<std::string, std::string>& deploy_env) {
  std::map<std::string, std::string> out = config;
  for (const auto& [k, v] : deploy_env) out[k] = v;
  return out;
}

}  // namespace skyport
