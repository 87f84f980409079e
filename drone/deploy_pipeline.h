// One deploy on the drone, from the hub's command to instances ready and
// registered, as an ordering of steps behind small interfaces (Nomad's
// allocrunner with its hooks; tests drive it with Fake… steps, no git and
// no processes):
//
//   checked out already? ── yes ─────────────────────────────┐
//        │ no                                                 │
//   fetch (CommitFetcher) → checkout into DATA/deploy/APP/.tmp-… (CheckoutMaker)
//        → read Procfile + skyport.json → release step (ReleaseRunner)
//        → rename into DATA/deploy/APP/COMMIT                 │
//                                                             ▼
//   not cancelled, deadline not passed → start instances (InstanceStarter)
//        → await ready and registered (InstanceStarter)
//        → replace instances running another env, rolling (InstanceStarter::Roll)
//
// A failure at any step: the temp dir is removed; once past the rename, the
// deployment's instances are stopped and a checkout this deploy made is
// removed; the reason is reported as FAILED. Nothing half-made remains. A
// redeploy of a commit that already ran stops only what it started: the
// instances that ran keep running.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "drone/procfile.h"
#include "drone/supervisor.h"

namespace skyport::drone {

// The stages the hub and `skyport deploy` show (v1::DeployProgress::Stage).
enum class DeployStage { kFetching, kCheckedOut, kBuilding, kStarting, kHealthy, kRegistered, kFailed };
using ProgressFn = std::function<void(DeployStage, const std::string& message)>;

// A deploy without a budget (an older hub): as long as the hub's former drone-side limit.
constexpr int64_t kDefaultDeployBudgetMs = 600'000;

// One deploy's deadline (DeployRequest.budget_ms, from when it arrived) and
// its abort switch (a `stop` of the same app and commit).
struct DeployRun {
  const Clock* clock = nullptr;  // deadline_ms is on its MonoMs
  int64_t deadline_ms = 0;
  int64_t budget_ms = 0;
  std::shared_ptr<std::atomic<bool>> cancel;
  // From the command's arrival at `clock`'s now; budget 0: the default.
  static DeployRun Begin(const Clock& clock, int64_t budget_ms);
  int64_t left() const { return deadline_ms - clock->MonoMs(); }
  bool cancelled() const { return cancel && cancel->load(); }
};

// What the hub asked for.
struct DeployOrder {
  std::string app, commit;
  uint32_t instances = 1;
  std::map<std::string, std::string> env;
  uint64_t config_version = 0;  // DeployRequest.config_version (skyport config)
  int64_t deployed_unix_ms = 0;  // DeployRequest.deployed_unix_ms: every instance registers with it
};

// Brings the commit's objects into the app's repository (nothing to do when present).
class CommitFetcher {
 public:
  virtual ~CommitFetcher() = default;
  virtual Status Fetch(const std::string& app, const std::string& commit, const DeployRun& run) = 0;
};

// Writes the commit's tree into `dir` (which does not exist yet), owned by who runs the app.
class CheckoutMaker {
 public:
  virtual ~CheckoutMaker() = default;
  virtual Status Checkout(const std::string& app, const std::string& commit, const std::string& dir) = 0;
};

// Runs the spec's release step (non-empty) in `dir` with the deploy's
// environment (`env`: the app's config vars and the deploy's --env, as the
// instances get them); an error says why it failed.
class ReleaseRunner {
 public:
  virtual ~ReleaseRunner() = default;
  virtual Status Release(const std::string& app, const std::string& commit, const std::string& dir,
                         const AppSpec& spec, const std::map<std::string, std::string>& env,
                         const DeployRun& run) = 0;
};

// The deployment's instances under supervision.
class InstanceStarter {
 public:
  virtual ~InstanceStarter() = default;
  // Starts each role's instances that are not running yet; `started` gets
  // every instance of the deployment (started now or already running), also
  // on an error, so that they can be waited for or cleaned up.
  virtual Status Start(const DeployOrder& order, const AppSpec& spec, const std::string& dir,
                       const ProgressFn& progress, std::set<InstanceKey>* started) = 0;
  // Until every one of `keys` is ready and registered; an error when one
  // fails, the deadline passes or the deploy is cancelled.
  virtual Status AwaitReady(const std::set<InstanceKey>& keys, const DeployRun& run,
                            const ProgressFn& progress) = 0;
  // The deploy is over: what it kept about `started` for itself is dropped.
  virtual void EndDeploy(const std::set<InstanceKey>& started) = 0;
  // Deregisters and stops every instance of (app, commit).
  virtual void StopDeployment(const std::string& app, const std::string& commit) = 0;

  // ---- redeploys of a running commit (a config change: drone/rolling_plan.h)
  // Whether (app, commit) has instances that run or are being started.
  virtual bool Runs(const std::string& app, const std::string& commit) = 0;
  // Once Start's instances are ready: replaces the instances that run with
  // another env or config version than `order`'s, one at a time (each new
  // one ready and registered before the old one is deregistered, drained
  // and stopped); `started` gets the new ones. An error stops there: what
  // was not replaced yet keeps running, and the replacements of the steps
  // that completed stay (StopStarted leaves them).
  virtual Status Roll(const DeployOrder& order, const AppSpec& spec, const std::string& dir, const DeployRun& run,
                      const ProgressFn& progress, std::set<InstanceKey>* started) = 0;
  // Deregisters and stops the instances of `started` this deploy started
  // (not those it found running). Before EndDeploy.
  virtual void StopStarted(const std::set<InstanceKey>& started) = 0;
};

struct PipelineOptions {
  std::string data_dir;
  std::string fixed_command;  // run this instead of the Procfile
  std::string fixed_role = "web";
};

class DeployPipeline {
 public:
  DeployPipeline(PipelineOptions o, CommitFetcher& fetcher, CheckoutMaker& checkout, ReleaseRunner& release,
                 InstanceStarter& instances, Random& random)
      : o_(std::move(o)), fetcher_(fetcher), checkout_(checkout), release_(release), instances_(instances),
        random_(random) {}

  // Carries out one deploy (the caller holds the deployment's lock). Every
  // stage goes to `progress`, a failure as kFailed too.
  Status Run(const DeployOrder& order, const DeployRun& run, const ProgressFn& progress);

 private:
  // The checkout dir of (app, commit), made if missing; the app's spec.
  Result<AppSpec> Prepare(const DeployOrder& order, const DeployRun& run, const ProgressFn& progress,
                          bool* created);
  Result<AppSpec> LoadSpec(const std::string& dir) const;

  const PipelineOptions o_;
  CommitFetcher& fetcher_;
  CheckoutMaker& checkout_;
  ReleaseRunner& release_;
  InstanceStarter& instances_;
  std::mutex random_mu_;  // deploys of other commits run at the same time
  Random& random_;        // guarded by random_mu_
};

}  // namespace skyport::drone
