#include "drone/deploy_steps.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"
#include "drone/checkout.h"
#include "drone/data_dir.h"
#include "drone/hub_messages.h"
#include "drone/log_file.h"
#include "drone/stored_logs.h"
#include "rpc/failover.h"
#include "drone/run_command.h"
#include "rpc/auth.h"

namespace fs = std::filesystem;

namespace skyport::drone {
namespace {

Status GiveCheckoutTo(const std::string& dir, const AppUser& u) {
  std::error_code ec;
  auto chown_one = [&](const fs::path& p) {
    return ::lchown(p.c_str(), u.uid, u.gid) == 0
               ? Status::Ok()
               : Status::Internal(fmt::format("chown {} to {}: {}", p.string(), u.name, std::strerror(errno)));
  };
  if (Status s = chown_one(dir); !s.ok()) return s;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (Status s = chown_one(it->path()); !s.ok()) return s;
  if (ec) return Status::Internal(fmt::format("chown {}: {}", dir, ec.message()));
  return Status::Ok();
}

}  // namespace

Status HubFetcher::Fetch(const std::string& app, const std::string& commit, const DeployRun& run) {
  const std::string repo = RepoDir(data_dir_, app);
  if (HasCommit(repo, commit)) return Status::Ok();
  v1::FetchCommitRequest req;
  req.set_app(app);
  req.set_commit(commit);
  auto writer = PackWriter::Begin(repo);
  if (!writer.ok()) return writer.status();
  Status failed = Status::Ok();
  // A read: a hub that is away or stands by passes it on; once a chunk came,
  // the stream is that hub's to finish.
  auto answer = rpc::StreamWithFailover(
      *hubs_, token_, rpc::FailoverOptions{std::clamp<int64_t>(run.left(), 1, 600'000), false, rpc::Retry::kSafe},
      [&](const std::string&, const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx, bool& started) {
        auto stub = v1::DroneControl::NewStub(ch);
        auto reader = stub->FetchCommit(&ctx, req);
        v1::PackChunk chunk;
        while (reader->Read(&chunk)) {
          started = true;
          if (failed.ok()) failed = (*writer)->Append(chunk.data());
        }
        return reader->Finish();
      });
  if (!answer.status.ok()) return Status(answer.status.code(), "fetch from hub: " + answer.status.message());
  if (!failed.ok()) return failed;
  return (*writer)->Commit();
}

Status GitCheckout::Checkout(const std::string& app, const std::string& commit, const std::string& dir) {
  if (Status s = CheckoutCommit(RepoDir(data_dir_, app), commit, dir); !s.ok()) return s;
  auto user = launch_.UserFor(app);
  if (!user.ok()) return user.status();
  if (*user) {
    if (Status s = GiveCheckoutTo(dir, **user); !s.ok()) return s;
    // With a uid per app, the checkout is its app's alone: no other app reads or changes it.
    std::error_code ec;
    if (launch_.uid_per_app()) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  return Status::Ok();
}

namespace {

// release.log: "status" lines around the step's output ("output" lines), in
// the instance logs' format (drone/log_file.h).
void KeepReleaseOutput(const std::string& log_dir, const std::string& app, const std::string& commit,
                       const std::string& command, int64_t started_ms, const std::string& output,
                       const std::string& outcome) {
  if (log_dir.empty()) return;
  const int64_t now = SystemClock::Get()->WallMs();
  std::string text = FormatLogLine(started_ms, "status", "release step: " + command);
  std::vector<std::string> lines;
  LineSplitter split;
  split.Feed(output, lines);
  split.Flush(lines);
  for (const auto& l : lines) text += FormatLogLine(now, "output", l);
  text += FormatLogLine(now, "status", fmt::format("{} after {:.1f} s", outcome, (now - started_ms) / 1000.0));
  const std::string path = ReleaseLogPath(log_dir, app, commit);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (Status s = WriteFileAtomic(path, text); !s.ok())
    log::Warn("cannot keep the release step's output", {{"path", path}, {"error", s.message()}});
}

std::string OutputTail(const std::string& output) {
  if (output.size() <= ReleaseStep::kReleaseErrorOutput) return output;
  std::string tail = output.substr(output.size() - ReleaseStep::kReleaseErrorOutput);
  const size_t nl = tail.find('\n');
  return "[...]\n" + (nl == std::string::npos ? tail : tail.substr(nl + 1));
}

}  // namespace

Status ReleaseStep::Release(const std::string& app, const std::string& commit, const std::string& dir,
                            const AppSpec& spec, const std::map<std::string, std::string>& env,
                            const DeployRun& run) {
  if (spec.release.empty()) return Status::Ok();
  // The deploy's deadline bounds the step too: killed on expiry, with its group.
  const bool deadline_first = run.left() < spec.release_timeout_ms;
  const int64_t timeout = std::max<int64_t>(1, std::min(run.left(), spec.release_timeout_ms));
  v1::ProcessStatus shown;
  shown.set_app(app);
  shown.set_commit(commit);
  shown.set_role("release");
  shown.set_drone(drone_name_);
  shown.set_state("release");
  shown.set_started_unix_ms(SystemClock::Get()->WallMs());
  auto rt = launch_.RuntimeFor(app, spec);
  if (!rt.ok()) return rt.status();
  auto r = RunCommand(spec.release, dir,
                      launch_.Env(dir, env, {{"SKYPORT_APP", app}, {"SKYPORT_COMMIT", commit}, {"SKYPORT_DRONE", drone_name_}}),
                      timeout, kReleaseOutputKeep, rt->setup, [&run] { return run.cancelled(); },
                      [&](pid_t pid) {
                        v1::DroneMessage m;
                        shown.set_pid(pid);
                        *m.mutable_status() = shown;
                        send_(m);
                      });
  send_(GoneMessage(app, commit, "release"));
  const int64_t started = shown.started_unix_ms();
  if (!r.ok()) {
    KeepReleaseOutput(log_dir_, app, commit, spec.release, started, "", "could not run: " + r.status().message());
    return r.status();
  }
  const std::string output = OutputTail(r->output);
  if (r->cancelled) {
    KeepReleaseOutput(log_dir_, app, commit, spec.release, started, r->output, "stopped (skyport stop)");
    return Status::Aborted("stopped during the release step (skyport stop)");
  }
  if (r->timed_out && deadline_first) {
    KeepReleaseOutput(log_dir_, app, commit, spec.release, started, r->output, "killed at the deploy's deadline");
    return Status::DeadlineExceeded(
        fmt::format("the deploy's deadline ({:g} s: hub --deploy-timeout or deploy --timeout) passed during the "
                    "release step; it was killed. Output:\n{}",
                    static_cast<double>(run.budget_ms) / 1000, output));
  }
  if (r->timed_out) {
    KeepReleaseOutput(log_dir_, app, commit, spec.release, started, r->output, "timed out");
    return Status::FailedPrecondition(fmt::format("release step timed out after {} s; output:\n{}",
                                                  spec.release_timeout_ms / 1000, output));
  }
  KeepReleaseOutput(log_dir_, app, commit, spec.release, started, r->output,
                    fmt::format("exited with {}", r->exit_code));
  if (r->exit_code != 0)
    return Status::FailedPrecondition(fmt::format("release step `{}` exited with {}; output:\n{}", spec.release,
                                                  r->exit_code, output));
  return Status::Ok();
}

}  // namespace skyport::drone
