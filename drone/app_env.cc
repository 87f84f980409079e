#include "drone/app_env.h"

#include <fmt/format.h>

extern char** environ;

namespace skyport::drone {
namespace {

bool Reserved(const std::string& name) { return name == "PORT" || name.starts_with("SKYPORT_"); }

bool ValidEnvName(const std::string& s) {
  if (s.empty() || s.size() > 256 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

std::vector<std::string> BuildAppEnv(const AppEnvInput& in) {
  std::map<std::string, std::string> env;
  env["PATH"] = kAppPath;
  env["LANG"] = kAppLang;
  if (!in.home.empty()) env["HOME"] = in.home;
  for (const auto& name : in.pass) {
    if (Reserved(name)) continue;  // ValidateEnvPass refuses these at start; never pass them anyway
    for (const auto& kv : in.drone_environ)
      if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 && kv[name.size()] == '=')
        env[name] = kv.substr(name.size() + 1);
  }
  for (const auto& [k, v] : in.config)
    if (!Reserved(k) && !k.empty() && k.find('=') == std::string::npos) env[k] = v;
  for (const auto& [k, v] : in.skyport) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

Status ValidateEnvPass(const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (!ValidEnvName(n))
      return Status::InvalidArgument(fmt::format("app-env-pass: \"{}\" is not an environment variable name", n));
    if (Reserved(n))
      return Status::InvalidArgument(fmt::format(
          "app-env-pass: {} is the drone's own (PORT and SKYPORT_* are never passed to apps)", n));
  }
  return Status::Ok();
}

std::vector<std::string> ProcessEnviron() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

}  // namespace skyport::drone
