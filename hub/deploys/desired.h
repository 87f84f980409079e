// What should run where: the hub's deployments, persisted so that a
// restarted hub still knows. Pure data + JSON; the hub guards it with its lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "hub/deploys/app_settings.h"
#include "hub/deploys/releases.h"

namespace skyport::hub {

struct Deployment {
  std::string app;
  std::string commit;  // full hash
  uint32_t instances = 1;
  std::map<std::string, std::string> env;
  std::set<std::string> drones;
  int64_t created_unix_ms = 0;
  bool operator==(const Deployment&) const = default;
};

// ---- config vars (skyport config): an app's environment, versioned.
struct AppConfigVars {
  uint64_t version = 0;  // bumped by each change; 0: never set
  std::map<std::string, std::string> vars;
  int64_t updated_unix_ms = 0;
  bool operator==(const AppConfigVars&) const = default;
};

class DesiredState {
 public:
  // Adds the deployment, or adds its drones to an existing one (instances and
  // env are replaced by the newer request).
  void Put(const Deployment& d);
  // Takes one drone off a deployment; drops the deployment when none is left.
  void RemoveDrone(const std::string& app, const std::string& commit, const std::string& drone);
  // Removes the deployment on `drones` (all drones when empty); how many drones were removed.
  size_t Remove(const std::string& app, const std::string& commit, const std::set<std::string>& drones);
  const Deployment* Find(const std::string& app, const std::string& commit) const;
  std::vector<Deployment> ForDrone(const std::string& drone) const;
  std::vector<Deployment> All() const;

  // Per-app settings (`skyport apps set`); an empty one is dropped.
  void SetSettings(const std::string& app, const AppSettings& settings);
  AppSettings Settings(const std::string& app) const;
  const std::map<std::string, AppSettings>& AllSettings() const { return settings_; }
  // ---- config vars
  // The app's config (version 0 and no vars when never set).
  AppConfigVars Config(const std::string& app) const;
  // Replaces the app's vars and bumps its version; returns the new version.
  uint64_t PutConfig(const std::string& app, std::map<std::string, std::string> vars, int64_t now_unix_ms);
  // Every app's config version (apps with a config only).
  std::map<std::string, uint64_t> ConfigVersions() const;
  // Forgets the app's config, version and history included (an app destroyed).
  void DropConfig(const std::string& app) {
    configs_.erase(app);
    config_history_.erase(app);
  }
  // The vars of the app's config `version`: the current one, one of the
  // kConfigHistory earlier ones kept (a rollback restores them), or version 0
  // (no config: none). NOT_FOUND for a version no longer kept.
  Result<std::map<std::string, std::string>> ConfigAt(const std::string& app, uint64_t version) const;
  // Lets go of the oldest earlier config version kept of any app (the one with
  // the most first); false when none is kept. For the desired state's bound.
  bool DropOldestConfigHistory();
  static constexpr size_t kConfigHistory = 10;

  std::string ToJson() const;
  // Pending releases in `text` come back interrupted (their outcome was never known).
  static Result<DesiredState> FromJson(const std::string& text);

  // --- releases (issue 16): kept with the deployments, in the same JSON.
  ReleaseBook& releases() { return releases_; }
  const ReleaseBook& releases() const { return releases_; }

 private:
  std::map<std::pair<std::string, std::string>, Deployment> deployments_;
  std::map<std::string, AppSettings> settings_;  // by app; never an Empty() one
  ReleaseBook releases_;
  std::map<std::string, AppConfigVars> configs_;  // by app: config vars
  // by app, by version: the vars of earlier config versions (at most kConfigHistory per app)
  std::map<std::string, std::map<uint64_t, std::map<std::string, std::string>>> config_history_;
};

}  // namespace skyport::hub
