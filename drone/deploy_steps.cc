#include "drone/deploy_steps.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/clock.h"
#include "drone/checkout.h"
#include "drone/data_dir.h"
#include "drone/hub_messages.h"
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

Status ReleaseStep::Release(const std::string& app, const std::string& commit, const std::string& dir,
                            const AppSpec& spec, const DeployRun& run) {
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
                      launch_.Env(dir, {}, {{"SKYPORT_APP", app}, {"SKYPORT_COMMIT", commit}, {"SKYPORT_DRONE", drone_name_}}),
                      timeout, 4096, rt->setup, [&run] { return run.cancelled(); },
                      [&](pid_t pid) {
                        v1::DroneMessage m;
                        shown.set_pid(pid);
                        *m.mutable_status() = shown;
                        send_(m);
                      });
  send_(GoneMessage(app, commit, "release"));
  if (!r.ok()) return r.status();
  if (r->cancelled) return Status::Aborted("stopped during the release step (skyport stop)");
  if (r->timed_out && deadline_first)
    return Status::DeadlineExceeded(
        fmt::format("the deploy's deadline ({:g} s: hub --deploy-timeout or deploy --timeout) passed during the "
                    "release step; it was killed. Output:\n{}",
                    static_cast<double>(run.budget_ms) / 1000, r->output));
  if (r->timed_out)
    return Status::FailedPrecondition(fmt::format("release step timed out after {} s; output:\n{}",
                                                  spec.release_timeout_ms / 1000, r->output));
  if (r->exit_code != 0)
    return Status::FailedPrecondition(fmt::format("release step `{}` exited with {}; output:\n{}", spec.release,
                                                  r->exit_code, r->output));
  return Status::Ok();
}

}  // namespace skyport::drone
