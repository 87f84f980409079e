#include "hub/deploys/operations.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "contract/config_vars.h"
#include "contract/flight_spec.h"

namespace skyport::hub {
namespace {

bool EnvNameOk(const std::string& k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}


// "d1: reason; d2: reason".
std::string JoinFailures(const std::map<std::string, std::string>& failed) {
  std::string out;
  for (const auto& [drone, err] : failed) out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", drone, err);
  return out;
}

bool Cancelled(const OperationHooks& h) { return h.cancelled && h.cancelled(); }

// Releases (issue 16): once the waiting caller has gone (Detach), the target
// drones' last answer resolves the deploy's release. Sees every answer before
// RunDeploy's loop does, so no answer falls between the two.
class ReleaseTally {
 public:
  ReleaseTally(Hub* hub, std::string app, uint32_t number) : hub_(hub), app_(std::move(app)), number_(number) {}
  void Expect(const std::string& drone) {
    std::lock_guard lock(mu_);
    waiting_.insert(drone);
  }
  void Unexpect(const std::string& drone) {
    std::lock_guard lock(mu_);
    waiting_.erase(drone);
  }
  void Observe(const std::string& drone, const v1::DroneMessage& m) {
    if (!m.has_done()) return;
    {
      std::lock_guard lock(mu_);
      if (!waiting_.erase(drone)) return;
      if (!m.done().ok()) failed_[drone] = m.done().error();
      if (!detached_ || !waiting_.empty()) return;
    }
    Resolve();
  }
  // The caller went away with the deploy still going: the last answer resolves the release.
  void Detach(const std::map<std::string, std::string>& failed_so_far) {
    {
      std::lock_guard lock(mu_);
      detached_ = true;
      failed_.insert(failed_so_far.begin(), failed_so_far.end());
      if (!waiting_.empty()) return;
    }
    Resolve();
  }

 private:
  void Resolve() {
    std::map<std::string, std::string> failed;
    {
      std::lock_guard lock(mu_);
      failed = failed_;
    }
    (void)hub_->FinishRelease(app_, number_, failed.empty() ? ReleaseOutcome::kSucceeded : ReleaseOutcome::kFailed,
                              JoinFailures(failed));
  }

  Hub* const hub_;
  const std::string app_;
  const uint32_t number_;
  std::mutex mu_;
  std::set<std::string> waiting_;              // guarded by mu_
  std::map<std::string, std::string> failed_;  // guarded by mu_
  bool detached_ = false;                      // guarded by mu_
};

// The full commit a stop means: one the drones know by that prefix, else the repository's answer.
Result<std::string> ResolveForStop(Hub* hub, RepoStore* repos, const std::string& app, const std::string& commitish) {
  if (commitish.size() >= 4 && IsHex(commitish)) {
    auto known = hub->KnownCommits(app, commitish);
    if (known.size() == 1) return *known.begin();
    if (known.size() > 1)
      return Status::FailedPrecondition(fmt::format("commitish: \"{}\" matches {} deployed commits; give more of it",
                                                    commitish, known.size()));
  }
  return repos->Resolve(app, commitish);
}

}  // namespace

Status RunDeploy(Hub* hub, RepoStore* repos, const v1::DeployRequest& req, int64_t timeout_ms,
                 const OperationHooks& hooks) {
  if (Status s = ValidateName("app", req.app()); !s.ok()) return s;
  if (req.commitish().empty()) return Status::InvalidArgument("commitish: required (a hash, a prefix of one, or a branch)");
  if (req.instances() > kMaxDeployInstances)
    return Status::InvalidArgument(fmt::format("instances: at most {}", kMaxDeployInstances));
  for (const auto& [k, v] : req.env())
    if (!EnvNameOk(k)) return Status::InvalidArgument(fmt::format("env: \"{}\" is not a valid variable name", k));
  auto commit = repos->Resolve(req.app(), req.commitish());
  if (!commit.ok()) return commit.status();
  auto targets = hub->ChooseTargets(req.target());
  if (!targets.ok()) return targets.status();
  if (req.timeout_s() > kMaxDeployTimeoutS)
    return Status::InvalidArgument(fmt::format("timeout_s: at most {}", kMaxDeployTimeoutS));
  if (req.timeout_s() != 0) timeout_ms = int64_t{req.timeout_s()} * 1000;
  // The drone's budget ends a little before we stop waiting, so its own
  // failure (the release killed, nothing started) is what we report.
  const int64_t budget_ms = timeout_ms - std::clamp<int64_t>(timeout_ms / 10, 200, 2'000);

  Deployment d;
  d.app = req.app();
  d.commit = *commit;
  d.instances = std::max<uint32_t>(1, req.instances());
  d.env.insert(req.env().begin(), req.env().end());
  d.drones.insert(targets->begin(), targets->end());
  d.created_unix_ms = SystemClock::Get()->WallMs();
  // Drones that had the deployment before: a failed redeploy (a config
  // change's rolling restart, more instances) leaves them what they ran.
  // Empty: the desired state does not hold the deployment.
  auto desired_drones = [&]() -> std::optional<std::set<std::string>> {
    for (const auto& prev : hub->Desired())
      if (prev.app == d.app && prev.commit == d.commit) return prev.drones;
    return std::nullopt;
  };
  std::set<std::string> had_it = desired_drones().value_or(std::set<std::string>{});
  // The drones get the app's config (skyport config) under the deploy's own --env.
  const AppConfigVars config = hub->Config(d.app);
  const std::map<std::string, std::string> env = MergeConfigEnv(config.vars, d.env);
  // --- releases (issue 16): recorded pending before anything changes.
  std::shared_ptr<ReleaseTally> tally;
  uint32_t release = 0;
  if (hooks.record_release) {
    Release r;
    r.commit = d.commit;
    r.config_version = config.version;
    r.who = hooks.who;
    r.drones = d.drones;
    r.instances = d.instances;
    r.env = d.env;
    r.description = hooks.only_if_desired ? fmt::format("config v{} restart", config.version) : "deploy";
    r.restart = hooks.only_if_desired;
    auto n = hub->BeginRelease(d.app, std::move(r));
    if (!n.ok()) return n.status();
    release = *n;
    tally = std::make_shared<ReleaseTally>(hub, d.app, release);
  }
  auto finish_release = [&](const Status& s) {
    if (release != 0)
      (void)hub->FinishRelease(d.app, release, s.ok() ? ReleaseOutcome::kSucceeded : ReleaseOutcome::kFailed,
                               s.message());
  };
  // A retirement stopping this commit right now (Hub::BeginRetiring): the
  // release above is recorded, so the retirement either saw it and keeps the
  // commit, or it is already stopping it; then this deploy starts it again
  // once the stop is over, instead of reporting success for a stopped commit.
  if (hub->AwaitNotRetiring(d.app, d.commit, timeout_ms)) {
    const auto still = desired_drones();
    had_it = still.value_or(std::set<std::string>{});
    if (hooks.only_if_desired && !still) {
      Status s = Status::Aborted("retired (rollback grace over) during this change: not started again");
      finish_release(s);
      log::Info("deploy skipped: retired meanwhile", {{"app", d.app}, {"commit", d.commit.substr(0, 12)}});
      return Status::Ok();
    }
  }
  if (Status s = hub->Desire(d); !s.ok()) {
    finish_release(s);
    return s;
  }
  // The first deploy's time, kept by the desired state across redeploys.
  int64_t deployed_unix_ms = d.created_unix_ms;
  for (const auto& kept : hub->Desired())
    if (kept.app == d.app && kept.commit == d.commit) deployed_unix_ms = kept.created_unix_ms;
  const std::string what = fmt::format("{}@{}", d.app, d.commit.substr(0, 12));
  log::Info("deploy", {{"deployment", what}, {"drones", static_cast<int64_t>(targets->size())},
                       {"release", static_cast<int64_t>(release)}});

  auto box = std::make_shared<DroneAnswers>();
  Answer into = Into(box);
  if (tally)
    into = [tally, box](const std::string& drone, const v1::DroneMessage& m) {
      tally->Observe(drone, m);
      box->Push({drone, m});
    };
  std::map<std::string, std::string> failed;
  std::set<std::string> waiting, said_failed;  // said_failed: sent its own FAILED line
  for (const auto& drone : *targets) {
    v1::HubCommand cmd;
    *cmd.mutable_deploy() = req;
    cmd.mutable_deploy()->set_commitish(d.commit);
    cmd.mutable_deploy()->set_instances(d.instances);
    cmd.mutable_deploy()->set_timeout_s(0);
    cmd.mutable_deploy()->set_budget_ms(budget_ms);
    cmd.mutable_deploy()->mutable_env()->clear();
    cmd.mutable_deploy()->mutable_env()->insert(env.begin(), env.end());
    cmd.mutable_deploy()->set_config_version(config.version);
    cmd.mutable_deploy()->set_deployed_unix_ms(deployed_unix_ms);
    if (tally) tally->Expect(drone);
    auto id = hub->Send(drone, cmd, into);
    if (id.ok()) {
      waiting.insert(drone);
    } else {
      if (tally) tally->Unexpect(drone);
      failed[drone] = id.status().message();
    }
  }
  const int64_t deadline = MonoNowMs() + timeout_ms;
  while (!waiting.empty()) {
    if (Cancelled(hooks)) {
      if (tally) tally->Detach(failed);  // the drones' last answer resolves the release
      return Status(Code::kCancelled, "the client went away; the deploy goes on");
    }
    if (MonoNowMs() > deadline) {
      for (const auto& dr : waiting) failed[dr] = fmt::format("timed out after {:g} s", static_cast<double>(timeout_ms) / 1000);
      break;
    }
    auto got = box->Pop(kAnswerPoll);
    if (!got) continue;
    auto& [drone, msg] = *got;
    if (msg.has_progress() && msg.progress().stage() == v1::DeployProgress::FAILED) said_failed.insert(drone);
    if (msg.has_progress() && hooks.progress) {
      v1::DeployProgress p = msg.progress();
      p.set_drone(drone);
      hooks.progress(p);
    }
    if (msg.has_done()) {
      waiting.erase(drone);
      if (!msg.done().ok()) failed[drone] = msg.done().error();
    }
  }
  if (failed.empty()) {
    finish_release(Status::Ok());
    return Status::Ok();
  }

  // A failed new target keeps nothing of this deploy, so reconcile won't
  // retry it; one that had the deployment keeps it (the drone kept running
  // what ran before).
  std::set<std::string> failed_drones;
  const std::string summary = JoinFailures(failed);
  for (const auto& [dr, err] : failed) {
    if (!had_it.count(dr)) failed_drones.insert(dr);
    if (!hooks.progress || said_failed.count(dr)) continue;  // one `failed` line per drone
    v1::DeployProgress p;
    p.set_drone(dr);
    p.set_commit(d.commit);
    p.set_stage(v1::DeployProgress::FAILED);
    p.set_message(err);
    p.set_unix_ms(SystemClock::Get()->WallMs());
    hooks.progress(p);
  }
  if (!failed_drones.empty()) (void)hub->Undesire(d.app, d.commit, failed_drones);
  log::Warn("deploy failed", {{"deployment", what}, {"errors", summary}});
  finish_release(Status::Aborted(summary));
  return Status::Aborted(
      fmt::format("deploy of {} failed on {} of {} drones: {}", what, failed.size(), targets->size(), summary));
}

Result<uint32_t> RunStop(Hub* hub, RepoStore* repos, const v1::StopRequest& req, int64_t timeout_ms,
                         const OperationHooks& hooks) {
  if (Status s = ValidateName("app", req.app()); !s.ok()) return s;
  if (req.commitish().empty()) return Status::InvalidArgument("commitish: required");
  auto commit = ResolveForStop(hub, repos, req.app(), req.commitish());
  if (!commit.ok()) return commit.status();
  if (hooks.may_stop)
    if (Status s = hooks.may_stop(req.app(), *commit); !s.ok()) return s;
  std::set<std::string> drones(req.drones().begin(), req.drones().end());
  std::set<std::string> targets = drones.empty() ? hub->DronesWith(req.app(), *commit) : drones;
  if (Status s = hub->Undesire(req.app(), *commit, drones); !s.ok()) return s;
  if (targets.empty()) return Status::NotFound(fmt::format("{}@{} is not deployed", req.app(), commit->substr(0, 12)));

  auto box = std::make_shared<DroneAnswers>();
  std::set<std::string> waiting;
  std::map<std::string, std::string> failed;
  for (const auto& dr : targets) {
    v1::HubCommand cmd;
    cmd.mutable_stop()->set_app(req.app());
    cmd.mutable_stop()->set_commitish(*commit);
    auto id = hub->Send(dr, cmd, Into(box));
    // A detached drone stops it when it comes back (reconcile).
    if (id.ok()) waiting.insert(dr);
  }
  uint32_t stopped = 0;
  const int64_t deadline = MonoNowMs() + timeout_ms;
  while (!waiting.empty() && MonoNowMs() < deadline && !Cancelled(hooks)) {
    auto got = box->Pop(kAnswerPoll);
    if (!got || !got->second.has_done()) continue;
    waiting.erase(got->first);
    if (got->second.done().ok()) ++stopped;
    else failed[got->first] = got->second.done().error();
  }
  for (const auto& dr : waiting) failed[dr] = "no answer before the timeout";
  if (failed.empty()) return stopped;
  return Status::Aborted("stop failed on " + JoinFailures(failed));
}

}  // namespace skyport::hub
