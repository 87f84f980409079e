// Deploy and stop as blocking operations, shared by the Hub gRPC service (for
// the CLI) and the control tower (flight plans). Each sends commands to the
// drones and waits for their answers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "hub/deploys/hub.h"
#include "hub/deploys/mailbox.h"
#include "hub/git/repo_store.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

// Drones' answers to a command, for the thread waiting on them.
using DroneAnswers = Mailbox<std::pair<std::string, v1::DroneMessage>>;
inline constexpr auto kAnswerPoll = std::chrono::milliseconds(200);
// Routes a command's answers into `box`.
inline Answer Into(std::shared_ptr<DroneAnswers> box) {
  return [box](const std::string& drone, const v1::DroneMessage& m) { box->Push({drone, m}); };
}

struct OperationHooks {
  std::function<void(const v1::DeployProgress&)> progress;  // may be empty
  std::function<bool()> cancelled;                          // may be empty; polled every 200 ms
  // Stop only: may (app, commit) stop? Asked once the commit is resolved, before anything changes.
  std::function<Status(const std::string& app, const std::string& commit)> may_stop;  // may be empty

  // --- releases (issue 16). Deploy: records a release (pending once the
  // commit and drones are known, then succeeded | failed; when the caller
  // goes away the drones' last answer resolves it) unless `record_release`
  // is false (a rollback records its own). `who` is the caller's token name
  // ("" = "cluster").
  bool record_release = true;
  std::string who;
  // A redeploy of what runs (a config change's rolling restart): when the
  // commit was retired meanwhile (Hub::BeginRetiring), it is not started
  // again (the release is marked failed, saying so, and the result is OK).
  bool only_if_desired = false;
};

inline constexpr uint32_t kMaxDeployTimeoutS = 86'400;

// Validates the request, resolves the commit, records the desired state and
// deploys to the chosen drones, waiting until each answers or `timeout_ms`
// (req.timeout_s when set) passes; the drones get a budget a little shorter
// (DeployRequest.budget_ms) and enforce it. The drones get the app's config
// vars (Hub::Config) with the request's own env on top, and its version. On
// failure a failed target that did not have the deployment before keeps
// nothing of it (so reconcile won't retry it; one that had it keeps it: the
// drone keeps what ran) and the result is ABORTED naming each drone's error.
// CANCELLED when `cancelled` said so (the deploy goes on).
Status RunDeploy(Hub* hub, RepoStore* repos, const v1::DeployRequest& req, int64_t timeout_ms,
                 const OperationHooks& hooks = {});

// Removes (app, commit) from the desired state of `req.drones` (all if empty)
// and tells the drones running it to stop, waiting up to `timeout_ms`.
// Returns how many drones stopped it. `hooks.may_stop` refusing leaves
// everything as it was (its status). NOT_FOUND when nothing runs it (the
// desired state is cleared anyway); ABORTED naming the drones that failed. A
// detached drone stops it when it comes back (reconcile).
Result<uint32_t> RunStop(Hub* hub, RepoStore* repos, const v1::StopRequest& req, int64_t timeout_ms,
                         const OperationHooks& hooks = {});

}  // namespace skyport::hub
