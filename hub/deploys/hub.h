// The hub's state: attached drones, what they run, the desired deployments
// (persisted), and the commands in flight. One lock guards all of it and is
// never held while talking to a drone or the disk is slow to answer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "contract/config_vars.h"
#include "core/clock.h"
#include "core/status.h"
#include "hub/deploys/desired.h"
#include "hub/deploys/targets.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

// One attached drone's command channel (the Attach stream).
class DroneLink {
 public:
  virtual ~DroneLink() = default;
  // False once the stream is gone.
  virtual bool Send(const v1::HubCommand& cmd) = 0;
  // Ends the stream (a newer session of the same drone replaced it).
  virtual void Close() = 0;
};

// Gets a command's answers (progress, status, log lines, and last a
// CommandDone), on the thread that reads the drone's stream.
using Answer = std::function<void(const std::string& drone, const v1::DroneMessage& msg)>;

class Hub {
 public:
  // Loads DATA_DIR/deployments.json if present.
  static Result<std::unique_ptr<Hub>> Open(const std::string& data_dir, Clock* clock);

  // --- drones
  // Registers the session (closing an older one of the same name) and sends
  // the commands that bring the drone to its desired state. Returns a session id.
  uint64_t Attach(std::shared_ptr<DroneLink> link, const v1::DroneHello& hello);
  void OnMessage(const std::string& drone, uint64_t session, const v1::DroneMessage& msg);
  // Ends the session; commands waiting on it are answered with a failure.
  void Detach(const std::string& drone, uint64_t session);

  // --- commands
  // Sends `cmd` (its id is assigned here) and routes the drone's answers to
  // `answer` until its CommandDone. FAILED_PRECONDITION if not attached.
  Result<uint64_t> Send(const std::string& drone, v1::HubCommand cmd, Answer answer);
  // Stops routing answers and tells the drone to stop (for follow streams).
  void Cancel(const std::string& drone, uint64_t command_id);

  // --- desired state (persisted before it is acted on)
  Status Desire(const Deployment& d);
  Status Undesire(const std::string& app, const std::string& commit, const std::set<std::string>& drones);
  std::vector<Deployment> Desired() const;
  // Per-app settings, persisted with the desired state (kept as they were if saving fails).
  Status SetAppSettings(const std::string& app, const AppSettings& settings);
  // Forgets the app's config vars, version included (`skyport apps destroy`).
  Status DropConfig(const std::string& app);
  AppSettings AppSettingsOf(const std::string& app) const;
  // Keeps the desired state with `save` (given the whole state's JSON, under
  // the hub's lock) instead of DATA_DIR/deployments.json: with several hubs,
  // in etcd, written by the leader only (hub/ha/desired_store.h).
  void set_desired_store(std::function<Status(const std::string& json)> save);
  // Replaces the desired state (a new leader's takeover, from etcd).
  void ReplaceDesired(DesiredState d);

  // The drone's budget for the deploys reconcile sends (nobody waits for
  // those; without one the drone would allow a hung release 10 minutes):
  // the hub's --deploy-timeout.
  void set_reconcile_budget_ms(int64_t ms) { reconcile_budget_ms_.store(ms); }

  // --- config vars (skyport config), persisted with the desired state
  // What a config change may grow the whole desired state's JSON to.
  static constexpr size_t kMaxDesiredJsonBytes = 1 << 20;
  AppConfigVars Config(const std::string& app) const;
  // Applies `change` (contract/config_vars.h checks it) to the app's vars and
  // saves the desired state with the app's version bumped; nothing changes
  // when the check or the save fails. The new config.
  Result<AppConfigVars> ChangeConfig(const std::string& app, const ConfigChange& change);
  // Makes the vars of the app's config `version` (current, kept or 0) its
  // config again, as a new version (a rollback to a release of that version).
  // NOT_FOUND when that version is no longer kept.
  Result<AppConfigVars> RestoreConfig(const std::string& app, uint64_t version);

  // --- views
  Result<std::vector<std::string>> ChooseTargets(const v1::DeployTarget& target) const;
  std::vector<v1::DroneInfo> Drones() const;
  std::vector<v1::ProcessStatus> Ps(const std::string& app) const;
  std::vector<std::string> ConnectedDrones() const;
  // Drones that run or should run (app, commit).
  std::set<std::string> DronesWith(const std::string& app, const std::string& commit) const;
  // Full commits of `app` known from the desired state or the drones that start with `prefix`.
  std::set<std::string> KnownCommits(const std::string& app, const std::string& prefix) const;

  // --- releases (issue 16; hub_releases.cc): kept with the desired state, saved before they count.
  // The config version a new release of `app` records: the one place that fills it (0 until config
  // vars exist; the config store's version of the app goes here).
  int64_t ConfigVersion(const std::string& app) const;
  // Records `r` as `app`'s next release (pending) and saves; its number.
  Result<uint32_t> BeginRelease(const std::string& app, Release r);
  // Resolves a pending release and schedules `retire` (a rollback's), in one save.
  Status FinishRelease(const std::string& app, uint32_t number, ReleaseOutcome outcome, const std::string& error,
                       const std::vector<Retirement>& retire = {});
  std::optional<AppReleases> ReleasesOf(const std::string& app) const;
  std::vector<std::string> ReleaseApps() const;
  std::vector<std::pair<std::string, Retirement>> DueRetirements(int64_t now_unix_ms) const;
  Status DropRetirement(const std::string& app, const std::string& commit, uint32_t release);
  // Forgets the app's releases (apps destroy); how many there were.
  Result<uint32_t> EraseReleases(const std::string& app);

  // --- a retirement in progress (Retirer): (app, commit) is being stopped.
  // A deploy of it records its release, then waits (AwaitNotRetiring) until
  // the stop is over and deploys it again; the Retirer marks the commit
  // before it reads the releases to decide. So a deploy either has its
  // release seen (the commit is kept) or comes after the stop (it runs again),
  // never a "succeeded" release of a commit the retirement stopped.
  void BeginRetiring(const std::string& app, const std::string& commit);
  void EndRetiring(const std::string& app, const std::string& commit);
  // Waits up to `wait_ms` while (app, commit) is being retired; whether it
  // waited at all (false: no retirement; a timeout returns true too).
  bool AwaitNotRetiring(const std::string& app, const std::string& commit, int64_t wait_ms);

 private:
  struct Session {
    uint64_t id = 0;
    std::shared_ptr<DroneLink> link;
    v1::DroneHello hello;
    bool connected = false;
    int64_t last_seen_unix_ms = 0;
    std::map<std::string, v1::ProcessStatus> processes;  // by "app/commit/role/instance"
  };
  struct Pending {
    std::string drone;
    uint64_t session = 0;
    std::shared_ptr<Answer> answer;
  };

  Hub(std::string path, Clock* clock, DesiredState desired)
      : path_(std::move(path)), clock_(clock), desired_(std::move(desired)) {}
  Status SaveLocked();
  // With mu_ held: applies `change` to the desired state and saves it; a
  // failed save leaves the state as it was.
  Status ChangeLocked(const std::function<void(DesiredState&)>& change);
  // Replaces the app's config vars (a new version), within kMaxDesiredJsonBytes
  // (earlier versions kept for rollbacks go first), and saves.
  Result<AppConfigVars> PutConfigLocked(const std::string& app, std::map<std::string, std::string> vars);
  void ReconcileDrone(const std::string& drone, const std::vector<Deployment>& desired,
                      const std::vector<v1::ProcessStatus>& running,
                      const std::map<std::string, uint64_t>& config_versions);

  const std::string path_;
  Clock* clock_;
  std::atomic<int64_t> reconcile_budget_ms_{300'000};
  mutable std::mutex mu_;
  DesiredState desired_;                       // guarded by mu_
  std::function<Status(const std::string&)> save_;  // guarded by mu_; empty: the JSON file
  std::map<std::string, Session> sessions_;    // guarded by mu_
  std::map<uint64_t, Pending> pending_;        // guarded by mu_
  uint64_t next_session_ = 1;                  // guarded by mu_
  uint64_t next_command_ = 1;                  // guarded by mu_
  std::set<std::pair<std::string, std::string>> retiring_;  // guarded by mu_: (app, commit) being stopped
  std::condition_variable retired_;            // notified when retiring_ loses an entry
};

std::string ProcessKey(const v1::ProcessStatus& p);

}  // namespace skyport::hub
