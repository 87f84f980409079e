#include "drone/app_launch.h"

#include "drone/app_env.h"

namespace skyport::drone {

std::map<std::string, std::string> AppLaunch::Env(const std::string& home,
                                                  const std::map<std::string, std::string>& config,
                                                  const std::map<std::string, std::string>& skyport) const {
  AppEnvInput in;
  in.drone_environ = ProcessEnviron();
  in.pass = env_pass_;
  in.home = home;
  in.config = config;
  in.skyport = skyport;
  std::map<std::string, std::string> out;
  for (const auto& kv : BuildAppEnv(in)) {
    auto eq = kv.find('=');
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

Result<std::optional<AppUser>> AppLaunch::UserFor(const std::string& app) const {
  if (!uids_) return defaults_.user;
  auto u = uids_->For(app);
  if (!u.ok()) return u.status();
  return std::optional<AppUser>(*u);
}

Result<AppRuntime> AppLaunch::RuntimeFor(const std::string& app, const AppSpec& spec) const {
  AppRuntime rt = ResolveAppRuntime(defaults_, spec.resources);
  auto user = UserFor(app);
  if (!user.ok()) return user.status();
  rt.setup.user = *user;
  return rt;
}

}  // namespace skyport::drone
