#include "drone/deploy_pipeline.h"

#include <filesystem>

#include <fmt/format.h>

#include "core/log.h"
#include "drone/checkout_files.h"
#include "drone/data_dir.h"

namespace fs = std::filesystem;

namespace skyport::drone {

DeployRun DeployRun::Begin(const Clock& clock, int64_t budget_ms) {
  DeployRun run;
  run.clock = &clock;
  run.budget_ms = budget_ms > 0 ? budget_ms : kDefaultDeployBudgetMs;
  run.deadline_ms = clock.MonoMs() + run.budget_ms;
  return run;
}

Status DeployPipeline::Run(const DeployOrder& order, const DeployRun& run, const ProgressFn& progress) {
  const std::string& app = order.app;
  const std::string& commit = order.commit;
  bool created = false;
  std::set<InstanceKey> started;
  Status s = Status::Ok();
  const bool was_running = instances_.Runs(app, commit);
  auto spec = Prepare(order, run, progress, &created);
  if (!spec.ok()) s = spec.status();
  // Nothing starts once the deadline passed or a stop came: the hub has
  // reported (or is about to report) this deploy failed.
  if (s.ok() && run.cancelled()) s = Status::Aborted("stopped during the deploy (skyport stop)");
  if (s.ok() && run.left() <= 0)
    s = Status::DeadlineExceeded(fmt::format("the deploy's deadline ({:g} s) passed before the start",
                                             static_cast<double>(run.budget_ms) / 1000));
  if (s.ok()) s = instances_.Start(order, *spec, DeployDir(o_.data_dir, app, commit), progress, &started);
  if (s.ok()) s = instances_.AwaitReady(started, run, progress);
  if (s.ok()) s = instances_.Roll(order, *spec, DeployDir(o_.data_dir, app, commit), run, progress, &started);
  if (!s.ok() && was_running) instances_.StopStarted(started);
  instances_.EndDeploy(started);
  if (!s.ok()) {
    log::Warn("deploy failed; cleaning up", {{"app", app}, {"commit", commit.substr(0, 12)}, {"error", s.message()},
                                             {"kept_running", was_running}});
    if (!was_running) instances_.StopDeployment(app, commit);
    std::error_code ec;
    if (created) fs::remove_all(DeployDir(o_.data_dir, app, commit), ec);
    progress(DeployStage::kFailed, s.message());
  } else {
    log::Info("deployed", {{"app", app}, {"commit", commit.substr(0, 12)}, {"instances", static_cast<int64_t>(started.size())}});
  }
  return s;
}

Result<AppSpec> DeployPipeline::LoadSpec(const std::string& dir) const {
  AppSpec spec;
  if (!o_.fixed_command.empty()) {
    spec.roles[o_.fixed_role].command = o_.fixed_command;
    return spec;
  }
  // Never followed out of the checkout, never read past a cap (drone/checkout_files.h).
  auto procfile = ReadCheckoutFile(dir, "Procfile");
  if (procfile.status().code() == Code::kNotFound)
    return Status::FailedPrecondition("the commit has no Procfile (add `web: <command>`)");
  if (!procfile.ok()) return procfile.status();
  auto parsed = ParseProcfile(*procfile);
  if (!parsed.ok()) return parsed.status();
  auto extra = ReadCheckoutFile(dir, "skyport.json");
  if (extra.ok()) {
    if (Status s = ApplySkyportJson(*extra, *parsed); !s.ok()) return s;
  } else if (extra.status().code() != Code::kNotFound) {
    return extra.status();
  }
  return parsed;
}

Result<AppSpec> DeployPipeline::Prepare(const DeployOrder& order, const DeployRun& run, const ProgressFn& progress,
                                        bool* created) {
  const std::string& app = order.app;
  const std::string& commit = order.commit;
  const std::string dir = DeployDir(o_.data_dir, app, commit);
  *created = false;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    progress(DeployStage::kCheckedOut, "already checked out");
    return LoadSpec(dir);
  }
  progress(DeployStage::kFetching, "fetching from the hub");
  if (Status s = fetcher_.Fetch(app, commit, run); !s.ok()) return s;
  std::string id;
  {
    std::lock_guard lock(random_mu_);
    id = NewHexId(random_);
  }
  const std::string tmp = fmt::format("{}/deploy/{}/.tmp-{}-{}", o_.data_dir, app, commit.substr(0, 12), id);
  fs::create_directories(fs::path(tmp).parent_path(), ec);
  auto fail = [&](Status s) -> Result<AppSpec> {
    std::error_code e;
    fs::remove_all(tmp, e);
    return s;
  };
  if (Status s = checkout_.Checkout(app, commit, tmp); !s.ok()) return fail(s);
  progress(DeployStage::kCheckedOut, "checked out");
  auto spec = LoadSpec(tmp);
  if (!spec.ok()) return fail(spec.status());
  if (!spec->release.empty()) {
    progress(DeployStage::kBuilding, "running the release step: " + spec->release);
    if (Status s = release_.Release(app, commit, tmp, *spec, order.env, run); !s.ok()) return fail(s);
  }
  fs::rename(tmp, dir, ec);
  if (ec) return fail(Status::Internal(fmt::format("rename checkout into {}: {}", dir, ec.message())));
  *created = true;
  return spec;
}

}  // namespace skyport::drone
