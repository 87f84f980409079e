// The drone's data directory: its layout and what it keeps between runs.
//   DATA/deploy/APP/COMMIT   a finished checkout (DATA/deploy/APP/.tmp-… while being made)
//   DATA/repos/APP.git       the app's bare repository, packs from the hub
//   DATA/logs/…              instance logs (drone/supervisor)
//   DATA/processes.json      pids of running instances (drone/state_file)
//   DATA/drone.json          {"lease": ID}: this run's registry lease, so the next run revokes it
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "drone/app_uids.h"
#include "drone/child_setup.h"

namespace skyport::drone {

std::string DeployDir(const std::string& data_dir, const std::string& app, const std::string& commit);
std::string RepoDir(const std::string& data_dir, const std::string& app);

// Creates the layout and deletes the half-made checkouts of a previous run
// (they are never taken for a deployment). With an app user (`user`, or a
// uid per app with `uids`) the repositories and logs are the drone's alone,
// and FAILED_PRECONDITION if that user cannot reach DATA/deploy.
Status PrepareDataDir(const std::string& data_dir, const std::optional<AppUser>& user,
                      const std::shared_ptr<AppUids>& uids);

// The lease a previous run saved (0: none, or no readable file).
uint64_t ReadSavedLease(const std::string& data_dir);
// Saves `lease` (0 on a clean shutdown: nothing to revoke).
Status SaveLease(const std::string& data_dir, uint64_t lease);

}  // namespace skyport::drone
