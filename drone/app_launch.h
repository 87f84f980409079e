// How the drone runs an app's code, for its instances and its release step
// alike: the environment (nothing of the drone's own but the names the
// operator passes, drone/app_env.h), the user, and the limits.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "drone/app_runtime.h"
#include "drone/app_uids.h"
#include "drone/procfile.h"

namespace skyport::drone {

class AppLaunch {
 public:
  AppLaunch(AppRuntimeDefaults defaults, std::vector<std::string> env_pass, std::shared_ptr<AppUids> uids)
      : defaults_(std::move(defaults)), env_pass_(std::move(env_pass)), uids_(std::move(uids)) {}

  // The whole environment of a process whose HOME is `home`: the passed
  // names, the deploy's `config`, then the SKYPORT_* values.
  std::map<std::string, std::string> Env(const std::string& home, const std::map<std::string, std::string>& config,
                                         const std::map<std::string, std::string>& skyport) const;
  // The user `app` runs as: its own uid with --app-uids, else --app-user, else none (the drone's).
  Result<std::optional<AppUser>> UserFor(const std::string& app) const;
  // How `app`'s processes and release steps run: its limits and its user.
  Result<AppRuntime> RuntimeFor(const std::string& app, const AppSpec& spec) const;
  // True with a uid per app: a checkout is then its app's alone.
  bool uid_per_app() const { return uids_ != nullptr; }

 private:
  const AppRuntimeDefaults defaults_;
  const std::vector<std::string> env_pass_;
  const std::shared_ptr<AppUids> uids_;
};

}  // namespace skyport::drone
