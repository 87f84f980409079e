#include "drone/agent.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/ids.h"
#include "core/log_limiter.h"
#include "core/log.h"
#include "drone/app_env.h"
#include "drone/checkout.h"
#include "drone/checkout_files.h"
#include "drone/port_owner.h"
#include "drone/restart_policy.h"
#include "drone/run_command.h"
#include "rpc/auth.h"

namespace fs = std::filesystem;

namespace skyport::drone {
namespace {

// The environment of an app's process or release step: nothing of the
// drone's own but the names the operator passes (drone/app_env.h).
std::map<std::string, std::string> AppEnv(const AgentOptions& o, const std::string& home,
                                          const std::map<std::string, std::string>& config,
                                          const std::map<std::string, std::string>& skyport) {
  AppEnvInput in;
  in.drone_environ = ProcessEnviron();
  in.pass = o.app_env_pass;
  in.home = home;
  in.config = config;
  in.skyport = skyport;
  std::map<std::string, std::string> out;
  for (const auto& kv : BuildAppEnv(in)) {
    auto eq = kv.find('=');
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

// With --app-user the checkout is the app user's (a build writes into it).
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

// A deploy command without a budget (an older hub): as long as the hub's former drone-side limit.
constexpr int64_t kDefaultDeployBudgetMs = 600'000;

// What the hub and `skyport ps` call a state; "running" reads better than "ready".
std::string StateName(ProcState s) { return s == ProcState::kReady ? "running" : ProcStateName(s); }

}  // namespace

Agent::Agent(AgentOptions o) : o_(std::move(o)) {}

Agent::~Agent() { Shutdown(); }

std::string Agent::DeployDir(const std::string& app, const std::string& commit) const {
  return fmt::format("{}/deploy/{}/{}", o_.data_dir, app, commit);
}

Status Agent::Start() {
  std::error_code ec;
  fs::create_directories(o_.data_dir + "/deploy", ec);
  fs::create_directories(o_.data_dir + "/repos", ec);
  if (ec) return Status::InvalidArgument(fmt::format("data: cannot create {}: {}", o_.data_dir, ec.message()));
  if (o_.app.user || o_.app_uids) {
    // Apps reach their checkout, not the repositories, the logs or the state.
    fs::create_directories(o_.data_dir + "/logs", ec);
    for (const char* d : {"/repos", "/logs"})
      fs::permissions(o_.data_dir + d, fs::perms::owner_all, fs::perm_options::replace, ec);
    AppUser probe;  // with --app-uids: the range's first uid stands for every app's (no groups)
    if (o_.app_uids) probe.uid = probe.gid = o_.app_uids->range().lo;
    const AppUser& u = o_.app.user ? *o_.app.user : probe;
    if (!SearchableBy(o_.data_dir + "/deploy", u))
      return Status::FailedPrecondition(fmt::format(
          "app-user: {} cannot enter {}/deploy; let it search the directories above (e.g. chmod 711 {})",
          o_.app.user ? u.name : fmt::format("uid {}", u.uid), o_.data_dir, o_.data_dir));
  }
  // Half-made checkouts of a previous run are never used.
  for (const auto& app : fs::directory_iterator(o_.data_dir + "/deploy", ec))
    for (const auto& entry : fs::directory_iterator(app.path(), ec))
      if (entry.path().filename().string().starts_with(".tmp-")) fs::remove_all(entry.path(), ec);

  ports_ = std::make_unique<PortClaimer>(o_.port_clash_retries, [](uint32_t port) { return PortIsFree(port); });

  auto reg_channel = rpc::Dial(o_.registry, o_.tls);
  if (!reg_channel.ok()) return reg_channel.status();
  registry_ = std::make_unique<RegistryLink>(*reg_channel, o_.token, o_.lease_ttl_s);
  uint64_t stale_lease = 0;
  if (auto text = ReadFile(o_.data_dir + "/drone.json"); text.ok()) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) stale_lease = j.value("lease", uint64_t{0});
  }
  const int64_t removed = registry_->Start(stale_lease);
  // A previous run killed with SIGKILL left its apps running and registered.
  // Their entries go first (the revoke above), then a drain while routers
  // catch up, and only then does the supervisor stop the left-over processes:
  // never a registered instance killed under a router's feet.
  if (removed > 0) {
    log::Info("draining the previous run's instances before stopping them", {{"entries", removed}, {"drain_ms", o_.drain_ms}});
    std::this_thread::sleep_for(std::chrono::milliseconds(o_.drain_ms));
  }

  SupervisorOptions so;
  so.log_dir = o_.data_dir + "/logs";
  so.state_file = o_.data_dir + "/processes.json";
  so.term_timeout_ms = o_.term_timeout_ms;
  so.cgroups = o_.cgroups;
  so.drone_name = o_.name;
  auto sup = Supervisor::Start(so, [this](const ProcStatus& p) { OnProcess(p); });
  if (!sup.ok()) return sup.status();
  supervisor_ = std::move(*sup);

  auto hub_channel = rpc::Dial(o_.hub, o_.tls);
  if (!hub_channel.ok()) return hub_channel.status();
  hub_ = v1::DroneControl::NewStub(*hub_channel);
  attach_thread_ = std::thread([this] { AttachLoop(); });
  return Status::Ok();
}

void Agent::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (attach_ctx_) attach_ctx_->TryCancel();
  }
  cv_.notify_all();
  if (attach_thread_.joinable()) attach_thread_.join();
  std::map<uint64_t, std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& [id, t] : workers) t.join();
  if (supervisor_ && registry_)
    for (const auto& p : supervisor_->List()) DeregisterForStop(p.key);
  if (supervisor_) supervisor_->StopAll(o_.drain_ms);
  if (registry_) registry_->Shutdown();
  (void)WriteFileAtomic(o_.data_dir + "/drone.json", nlohmann::json{{"lease", 0}}.dump());
}

void Agent::SaveState() {
  // The lease, so that a restarted drone can drop what this run registered.
  if (Status s = WriteFileAtomic(o_.data_dir + "/drone.json", nlohmann::json{{"lease", registry_->lease()}}.dump());
      !s.ok())
    log::Warn("cannot save drone state", {{"error", s.message()}});
}

void Agent::Spawn(std::function<void()> work, bool unless_stopping) {
  std::lock_guard lock(mu_);
  if (unless_stopping && stopping_) return;
  for (uint64_t id : finished_workers_) {
    auto it = workers_.find(id);
    if (it != workers_.end()) {
      it->second.join();
      workers_.erase(it);
    }
  }
  finished_workers_.clear();
  uint64_t id = next_worker_++;
  workers_[id] = std::thread([this, id, work = std::move(work)] {
    work();
    std::lock_guard l(mu_);
    finished_workers_.insert(id);
  });
}

bool Agent::SendToHub(const v1::DroneMessage& msg) {
  std::lock_guard lock(write_mu_);
  return stream_ != nullptr && stream_->Write(msg);
}

void Agent::Done(uint64_t id, const Status& s) {
  v1::DroneMessage m;
  m.set_command_id(id);
  m.mutable_done()->set_ok(s.ok());
  m.mutable_done()->set_error(s.message());
  SendToHub(m);
}

void Agent::Progress(uint64_t id, const std::string& commit, v1::DeployProgress::Stage stage,
                     const std::string& message) {
  v1::DroneMessage m;
  m.set_command_id(id);
  auto* p = m.mutable_progress();
  p->set_drone(o_.name);
  p->set_commit(commit);
  p->set_stage(stage);
  p->set_message(message);
  p->set_unix_ms(SystemClock::Get()->WallMs());
  SendToHub(m);
}

void Agent::AttachLoop() {
  SystemRandom random;
  // The stream waits for the hub while it is away (wait_for_ready), and is
  // attached within the channel's reconnect backoff of its return; this
  // backoff only spaces out streams the hub itself ends.
  const BackoffPolicy policy = kReconnectBackoff;
  LogLimiter retry_log;
  int attempt = 0;
  for (;;) {
    grpc::ClientContext ctx;
    rpc::AttachToken(ctx, o_.token);
    ctx.set_wait_for_ready(true);
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      attach_ctx_ = &ctx;
    }
    auto stream = hub_->Attach(&ctx);
    v1::DroneMessage hello;
    auto* h = hello.mutable_hello();
    h->set_name(o_.name);
    h->set_advertise(o_.advertise);
    h->mutable_labels()->insert(o_.labels.begin(), o_.labels.end());
    h->set_fixed_command(o_.fixed_command);
    for (const auto& p : supervisor_->List()) *h->add_running() = ToProto(p);
    {
      std::lock_guard lock(write_mu_);
      stream_ = stream.get();
    }
    bool attached = stream->Write(hello);
    v1::HubCommand cmd;
    bool got_any = false;
    while (attached && stream->Read(&cmd)) {
      if (!got_any) log::Info("attached to the hub", {{"hub", o_.hub}});
      got_any = true;
      attempt = 0;
      Dispatch(cmd);
    }
    {
      std::lock_guard lock(write_mu_);
      stream_ = nullptr;
    }
    grpc::Status s = stream->Finish();
    {
      std::lock_guard lock(mu_);
      attach_ctx_ = nullptr;
      if (stopping_) return;
    }
    int64_t delay = BackoffDelayMs(policy, attempt++, random.Uniform01());
    uint64_t held = 0;
    if (got_any || retry_log.Allow(MonoNowMs(), &held))
      log::Warn("not attached to the hub; retrying",
                {{"hub", o_.hub}, {"error", s.error_message()}, {"code", static_cast<int>(s.error_code())},
                 {"retry_ms", delay}, {"more_since_last_line", held}});
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(delay), [&] { return stopping_; });
  }
}

void Agent::Dispatch(const v1::HubCommand& cmd) {
  const uint64_t id = cmd.command_id();
  if (cmd.has_deploy()) {
    Spawn([this, id, req = cmd.deploy()] { Deploy(id, req); });
  } else if (cmd.has_stop()) {
    Spawn([this, id, req = cmd.stop()] { Stop(id, req); });
  } else if (cmd.has_logs()) {
    Logs(id, cmd.logs());
  } else if (cmd.cancel() != 0) {
    uint64_t sub = 0;
    {
      std::lock_guard lock(mu_);
      auto it = log_subscriptions_.find(cmd.cancel());
      if (it != log_subscriptions_.end()) {
        sub = it->second;
        log_subscriptions_.erase(it);
      }
    }
    if (sub) supervisor_->Unsubscribe(sub);
  }
}

std::mutex& Agent::DeploymentLock(const std::string& app, const std::string& commit) {
  std::lock_guard lock(mu_);
  auto& m = deploy_locks_[app + "@" + commit];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

int64_t Agent::DeployRun::left() const { return deadline_ms - MonoNowMs(); }

std::shared_ptr<std::atomic<bool>> Agent::CancelFlag(const std::string& app, const std::string& commit) {
  std::lock_guard lock(mu_);
  auto& f = deploy_cancels_[app + "@" + commit];
  if (!f) f = std::make_shared<std::atomic<bool>>(false);
  return f;
}

Status Agent::Fetch(const std::string& app, const std::string& commit, const std::string& repo, const DeployRun& run) {
  if (HasCommit(repo, commit)) return Status::Ok();
  grpc::ClientContext ctx;
  rpc::AttachToken(ctx, o_.token);
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::clamp<int64_t>(run.left(), 1, 600'000)));
  v1::FetchCommitRequest req;
  req.set_app(app);
  req.set_commit(commit);
  auto writer = PackWriter::Begin(repo);
  if (!writer.ok()) return writer.status();
  auto reader = hub_->FetchCommit(&ctx, req);
  v1::PackChunk chunk;
  Status failed = Status::Ok();
  while (reader->Read(&chunk))
    if (failed.ok()) failed = (*writer)->Append(chunk.data());
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Status(static_cast<Code>(s.error_code()), "fetch from hub: " + s.error_message());
  if (!failed.ok()) return failed;
  return (*writer)->Commit();
}

Status Agent::RunRelease(const std::string& app, const std::string& commit, const std::string& dir,
                         const AppSpec& spec, const DeployRun& run) {
  if (spec.release.empty()) return Status::Ok();
  // The deploy's deadline bounds the step too: killed on expiry, with its group.
  const bool deadline_first = run.left() < spec.release_timeout_ms;
  const int64_t timeout = std::max<int64_t>(1, std::min(run.left(), spec.release_timeout_ms));
  // `ps` shows the step while it runs (as role "release", state "release").
  v1::ProcessStatus shown;
  shown.set_app(app);
  shown.set_commit(commit);
  shown.set_role("release");
  shown.set_drone(o_.name);
  shown.set_state("release");
  shown.set_started_unix_ms(SystemClock::Get()->WallMs());
  auto rt = RuntimeFor(app, spec);
  if (!rt.ok()) return rt.status();
  auto r = RunCommand(spec.release, dir,
                      AppEnv(o_, dir, {}, {{"SKYPORT_APP", app}, {"SKYPORT_COMMIT", commit}, {"SKYPORT_DRONE", o_.name}}),
                      timeout, 4096, rt->setup, [&run] { return run.cancelled(); },
                      [&](pid_t pid) {
                        v1::DroneMessage m;
                        shown.set_pid(pid);
                        *m.mutable_status() = shown;
                        SendToHub(m);
                      });
  {
    v1::DroneMessage m;
    auto* g = m.mutable_gone();
    g->set_app(app);
    g->set_commit(commit);
    g->set_role("release");
    SendToHub(m);
  }
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

Result<AppSpec> Agent::Prepare(uint64_t id, const std::string& app, const std::string& commit, bool* created,
                               const DeployRun& run) {
  const std::string dir = DeployDir(app, commit);
  auto load_spec = [&](const std::string& where) -> Result<AppSpec> {
    AppSpec spec;
    if (!o_.fixed_command.empty()) {
      spec.roles[o_.fixed_role].command = o_.fixed_command;
      return spec;
    }
    // Never followed out of the checkout, never read past a cap (drone/checkout_files.h).
    auto procfile = ReadCheckoutFile(where, "Procfile");
    if (procfile.status().code() == Code::kNotFound)
      return Status::FailedPrecondition("the commit has no Procfile (add `web: <command>`)");
    if (!procfile.ok()) return procfile.status();
    auto parsed = ParseProcfile(*procfile);
    if (!parsed.ok()) return parsed.status();
    auto extra = ReadCheckoutFile(where, "skyport.json");
    if (extra.ok()) {
      if (Status s = ApplySkyportJson(*extra, *parsed); !s.ok()) return s;
    } else if (extra.status().code() != Code::kNotFound) {
      return extra.status();
    }
    return parsed;
  };
  *created = false;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    Progress(id, commit, v1::DeployProgress::CHECKED_OUT, "already checked out");
    return load_spec(dir);
  }
  Progress(id, commit, v1::DeployProgress::FETCHING, "fetching from the hub");
  const std::string repo = fmt::format("{}/repos/{}.git", o_.data_dir, app);
  if (Status s = Fetch(app, commit, repo, run); !s.ok()) return s;
  SystemRandom random;
  const std::string tmp = fmt::format("{}/deploy/{}/.tmp-{}-{}", o_.data_dir, app, commit.substr(0, 12), NewHexId(random));
  fs::create_directories(fs::path(tmp).parent_path(), ec);
  auto fail = [&](Status s) -> Result<AppSpec> {
    std::error_code e;
    fs::remove_all(tmp, e);
    return s;
  };
  if (Status s = CheckoutCommit(repo, commit, tmp); !s.ok()) return fail(s);
  auto user = UserFor(app);
  if (!user.ok()) return fail(user.status());
  if (*user) {
    if (Status s = GiveCheckoutTo(tmp, **user); !s.ok()) return fail(s);
    // With a uid per app, the checkout is its app's alone: no other app reads or changes it.
    if (o_.app_uids) fs::permissions(tmp, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  Progress(id, commit, v1::DeployProgress::CHECKED_OUT, "checked out");
  auto spec = load_spec(tmp);
  if (!spec.ok()) return fail(spec.status());
  if (!spec->release.empty()) {
    Progress(id, commit, v1::DeployProgress::BUILDING, "running the release step: " + spec->release);
    if (Status s = RunRelease(app, commit, tmp, *spec, run); !s.ok()) return fail(s);
  }
  fs::rename(tmp, dir, ec);
  if (ec) return fail(Status::Internal(fmt::format("rename checkout into {}: {}", dir, ec.message())));
  *created = true;
  return spec;
}

Status Agent::StartInstances(uint64_t id, const v1::DeployRequest& req, const AppSpec& spec, const std::string& dir,
                             std::set<InstanceKey>* started) {
  const std::string& commit = req.commitish();
  std::set<InstanceKey> running;
  for (const auto& p : supervisor_->List())
    if (p.state != ProcState::kFailed && p.state != ProcState::kStopped) running.insert(p.key);
  const uint32_t instances = std::max<uint32_t>(1, req.instances());
  for (const auto& [role, rs] : spec.roles) {
    for (uint32_t i = 0; i < instances; ++i) {
      InstanceKey key{req.app(), commit, role, i};
      if (running.count(key)) {
        started->insert(key);
        continue;
      }
      // A failed instance from an earlier deploy makes way for this one.
      (void)supervisor_->Stop(key, 0);
      ProcessSpec ps;
      ps.key = key;
      ps.command = rs.command;
      ps.cwd = dir;
      ps.health_path = rs.health_path;
      ps.ready_timeout_ms = o_.ready_timeout_ms;
      auto runtime = RuntimeFor(req.app(), spec);
      if (!runtime.ok()) return runtime.status();
      const AppRuntime& rt = *runtime;
      ps.setup = rt.setup;
      ps.cgroup_limits = rt.cgroup;
      ps.stop_timeout_ms = rt.stop_timeout_ms;
      std::map<std::string, std::string> sky = {{"SKYPORT_APP", req.app()}, {"SKYPORT_COMMIT", commit},
                                                {"SKYPORT_ROLE", role}, {"SKYPORT_INSTANCE", std::to_string(i)},
                                                {"SKYPORT_DRONE", o_.name}};
      ps.env = AppEnv(o_, dir, {req.env().begin(), req.env().end()}, sky);
      ps.min_uptime_ms = spec.min_uptime_ms >= 0 ? spec.min_uptime_ms : o_.min_uptime_ms;
      if (rs.port) {
        std::vector<uint32_t> avoid;
        if (Status s = ClaimPort(ps, &avoid); !s.ok()) return s;
        std::lock_guard lock(mu_);
        avoid_[key] = std::move(avoid);
      }
      {
        std::lock_guard lock(mu_);
        specs_[key] = ps;
        running_specs_[key] = ps;
      }
      if (Status s = supervisor_->Run(ps); !s.ok()) return s;
      started->insert(key);
      Progress(id, commit, v1::DeployProgress::STARTING,
               rs.port ? fmt::format("{} starting on port {}", key.ToString(), ps.port)
                       : fmt::format("{} starting (worker)", key.ToString()));
    }
  }
  return Status::Ok();
}

Status Agent::ClaimPort(ProcessSpec& ps, std::vector<uint32_t>* avoid) {
  const InstanceKey& key = ps.key;
  auto port = ports_->Claim(
      key, [&](const std::vector<uint32_t>& a) { return registry_->Allocate(o_.advertise, key, 10'000, a); }, avoid);
  if (!port.ok()) return port.status();
  ps.port = *port;
  ps.env["PORT"] = std::to_string(*port);
  v1::Endpoint ep;
  ep.set_app(key.app);
  ep.set_commit(key.commit);
  ep.set_role(key.role);
  ep.set_instance(key.instance);
  ep.set_host(o_.advertise);
  ep.set_port(*port);
  ep.set_drone(o_.name);
  ep.set_health(v1::HEALTH_PASSING);
  std::lock_guard lock(mu_);
  endpoints_[key] = ep;
  return Status::Ok();
}

Status Agent::MoveOffClash(uint64_t id, const ProcStatus& p) {
  ProcessSpec ps;
  std::vector<uint32_t> avoid;
  {
    std::lock_guard lock(mu_);
    auto it = specs_.find(p.key);
    if (it == specs_.end()) return Status::FailedPrecondition(fmt::format("{}: {}", p.key.ToString(), p.last_error));
    ps = it->second;
    avoid = avoid_[p.key];
  }
  if (!ports_->NoteClash(p.key, p.port, p.last_error, &avoid))
    return Status::ResourceExhausted(fmt::format("{}: {}; gave up after {} ports taken (--port-clash-retries)",
                                                 p.key.ToString(), p.last_error, avoid.size()));
  (void)supervisor_->Stop(p.key, 0);  // kStopped releases the old port
  if (Status s = ClaimPort(ps, &avoid); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    avoid_[p.key] = avoid;
    specs_[p.key] = ps;
    running_specs_[p.key] = ps;
  }
  if (Status s = supervisor_->Run(ps); !s.ok()) return s;
  Progress(id, p.key.commit, v1::DeployProgress::STARTING,
           fmt::format("{} {}; starting again on port {}", p.key.ToString(), p.last_error, ps.port));
  return Status::Ok();
}

void Agent::MoveOffClashLater(const InstanceKey& key) {
  std::lock_guard deploy_lock(DeploymentLock(key.app, key.commit));
  ProcessSpec ps;
  {
    std::lock_guard lock(mu_);
    auto it = running_specs_.find(key);
    if (stopping_ || specs_.count(key) || it == running_specs_.end()) return;  // a deploy handles its own
    ps = it->second;
  }
  std::optional<ProcStatus> now;
  for (auto& p : supervisor_->List())
    if (p.key == key) now = p;
  if (!now || now->state != ProcState::kFailed || !now->port_clash) return;  // stopped or moved meanwhile
  std::vector<uint32_t> avoid;
  if (!ports_->NoteClash(key, now->port, now->last_error, &avoid)) return;
  (void)supervisor_->Stop(key, 0);  // kStopped releases the old port
  if (Status s = ClaimPort(ps, &avoid); !s.ok()) {
    log::Warn("port clash: no other port for the instance", {{"instance", key.ToString()}, {"error", s.message()}});
    return;
  }
  {
    std::lock_guard lock(mu_);
    running_specs_[key] = ps;
  }
  if (Status s = supervisor_->Run(ps); !s.ok())
    log::Warn("port clash: cannot start the instance again", {{"instance", key.ToString()}, {"error", s.message()}});
  else
    log::Info("port clash: instance starting again on another port",
              {{"instance", key.ToString()}, {"old_port", now->port}, {"port", ps.port}});
}

Status Agent::AwaitReady(uint64_t id, const std::string& commit, const std::set<InstanceKey>& keys,
                         const DeployRun& run) {
  int64_t min_uptime = 0;
  std::set<InstanceKey> fresh;  // started by this deploy (not already running)
  {
    std::lock_guard lock(mu_);
    for (const auto& key : keys)
      if (auto it = specs_.find(key); it != specs_.end()) {
        min_uptime = std::max(min_uptime, it->second.min_uptime_ms);
        fresh.insert(key);
      }
  }
  int64_t deadline = MonoNowMs() + o_.ready_timeout_ms + min_uptime + 10'000;
  std::set<InstanceKey> healthy, registered;
  for (;;) {
    std::map<InstanceKey, ProcStatus> now;
    for (auto& p : supervisor_->List()) now[p.key] = p;
    for (const auto& key : keys) {
      auto it = now.find(key);
      if (it == now.end()) return Status::Aborted(fmt::format("{} was stopped during the deploy", key.ToString()));
      const ProcStatus& p = it->second;
      if (p.state == ProcState::kFailed && p.port_clash) {
        if (Status s = MoveOffClash(id, p); !s.ok()) return s;
        fresh.insert(key);
        healthy.erase(key);
        deadline = MonoNowMs() + o_.ready_timeout_ms + min_uptime + 10'000;
        continue;
      }
      // A restart of a fresh instance means it ended during this deploy, even
      // if the poll missed the short backoff in between.
      if (p.state == ProcState::kBackoff || p.state == ProcState::kFailed || (fresh.count(key) && p.restarts > 0)) {
        // A crash after readiness: how long it stayed up says "crash loop".
        std::string why = p.last_error;
        if (p.last_run_ms > 0 && why.find("not ready") == std::string::npos)
          why += " after " + FormatDurationMs(p.last_run_ms);
        if (healthy.count(key))
          why += fmt::format(" (an instance must stay up {} once ready)", FormatDurationMs(min_uptime));
        return Status::FailedPrecondition(fmt::format("{} failed to start: {}", key.ToString(), why));
      }
      if (p.state == ProcState::kReady && healthy.insert(key).second)
        Progress(id, commit, v1::DeployProgress::HEALTHY, fmt::format("{} is ready (pid {})", key.ToString(), p.pid));
      bool wants_port;
      {
        std::lock_guard lock(mu_);
        wants_port = endpoints_.count(key) > 0;
      }
      if (healthy.count(key) && p.settled && (!wants_port || registry_->IsRegistered(key)) &&
          registered.insert(key).second)
        Progress(id, commit, v1::DeployProgress::REGISTERED,
                 wants_port ? fmt::format("{} registered on {}:{}", key.ToString(), o_.advertise, p.port)
                            : fmt::format("{} running (worker, not registered)", key.ToString()));
    }
    if (registered.size() == keys.size()) return Status::Ok();
    if (MonoNowMs() > deadline) return Status::DeadlineExceeded("instances not ready and registered in time");
    if (run.cancelled()) return Status::Aborted("stopped during the deploy (skyport stop)");
    if (run.left() <= 0)
      return Status::DeadlineExceeded(fmt::format(
          "the deploy's deadline ({:g} s: hub --deploy-timeout or deploy --timeout) passed before every instance "
          "was ready and up for its min-uptime",
          static_cast<double>(run.budget_ms) / 1000));
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping_; }))
      return Status::Aborted("the drone is shutting down");
  }
}

void Agent::Deploy(uint64_t id, const v1::DeployRequest& req) {
  const std::string& app = req.app();
  const std::string& commit = req.commitish();
  DeployRun run;
  run.budget_ms = req.budget_ms() > 0 ? req.budget_ms() : kDefaultDeployBudgetMs;
  run.deadline_ms = MonoNowMs() + run.budget_ms;  // from the command's arrival: waiting for the lock counts
  std::lock_guard deploy_lock(DeploymentLock(app, commit));
  run.cancel = CancelFlag(app, commit);
  run.cancel->store(false);  // a stop before this deploy is not about it
  bool created = false;
  std::set<InstanceKey> started;
  Status s = Status::Ok();
  auto spec = Prepare(id, app, commit, &created, run);
  if (!spec.ok()) s = spec.status();
  // Nothing starts once the deadline passed or a stop came: the hub has
  // reported (or is about to report) this deploy failed.
  if (s.ok() && run.cancelled()) s = Status::Aborted("stopped during the deploy (skyport stop)");
  if (s.ok() && run.left() <= 0)
    s = Status::DeadlineExceeded(fmt::format("the deploy's deadline ({:g} s) passed before the start",
                                             static_cast<double>(run.budget_ms) / 1000));
  if (s.ok()) s = StartInstances(id, req, *spec, DeployDir(app, commit), &started);
  if (s.ok()) s = AwaitReady(id, commit, started, run);
  {
    std::lock_guard lock(mu_);
    for (const auto& key : started) {
      specs_.erase(key);
      avoid_.erase(key);
    }
  }
  if (!s.ok()) {
    log::Warn("deploy failed; cleaning up", {{"app", app}, {"commit", commit.substr(0, 12)}, {"error", s.message()}});
    StopDeployment(app, commit);
    std::error_code ec;
    if (created) fs::remove_all(DeployDir(app, commit), ec);
    Progress(id, commit, v1::DeployProgress::FAILED, s.message());
  } else {
    log::Info("deployed", {{"app", app}, {"commit", commit.substr(0, 12)}, {"instances", static_cast<int64_t>(started.size())}});
  }
  SaveState();
  Done(id, s);
}

Result<AppRuntime> Agent::RuntimeFor(const std::string& app, const AppSpec& spec) {
  AppRuntime rt = ResolveAppRuntime(o_.app, spec.resources);
  auto user = UserFor(app);
  if (!user.ok()) return user.status();
  rt.setup.user = *user;
  return rt;
}

Result<std::optional<AppUser>> Agent::UserFor(const std::string& app) {
  if (!o_.app_uids) return o_.app.user;
  auto u = o_.app_uids->For(app);
  if (!u.ok()) return u.status();
  return std::optional<AppUser>(*u);
}

void Agent::DeregisterForStop(const InstanceKey& key) {
  // The drain before SIGTERM counts from the entry's removal, which routers see.
  if (!registry_->DeregisterAndWait(key, kDeregisterWaitMs))
    log::Warn("registry did not confirm the deregistration; draining anyway",
              {{"instance", key.ToString()}, {"waited_ms", kDeregisterWaitMs}});
}

void Agent::StopDeployment(const std::string& app, const std::string& commit) {
  std::vector<std::thread> stops;
  for (const auto& p : supervisor_->List())
    if (p.key.app == app && p.key.commit == commit)
      stops.emplace_back([this, key = p.key] {
        DeregisterForStop(key);
        (void)supervisor_->Stop(key, o_.drain_ms);
      });
  for (auto& t : stops) t.join();
}

void Agent::Stop(uint64_t id, const v1::StopRequest& req) {
  const std::string& commit = req.commitish();
  // A deploy of it in flight (fetch, release, start) gives up at once.
  CancelFlag(req.app(), commit)->store(true);
  std::lock_guard deploy_lock(DeploymentLock(req.app(), commit));
  StopDeployment(req.app(), commit);
  std::error_code ec;
  fs::remove_all(DeployDir(req.app(), commit), ec);
  log::Info("stopped", {{"app", req.app()}, {"commit", commit.substr(0, 12)}});
  Done(id, ec ? Status::Internal("remove checkout: " + ec.message()) : Status::Ok());
}

void Agent::Logs(uint64_t id, const v1::LogsRequest& req) {
  auto matches = [req](const LogLine& l) {
    return l.key.app == req.app() && (req.commit().empty() || l.key.commit.starts_with(req.commit())) &&
           (req.role().empty() || l.key.role == req.role());
  };
  auto send = [this, id](const LogLine& l) {
    v1::DroneMessage m;
    m.set_command_id(id);
    auto* out = m.mutable_log();
    out->set_drone(o_.name);
    out->set_commit(l.key.commit);
    out->set_role(l.key.role);
    out->set_instance(l.key.instance);
    out->set_stream(l.stream);
    out->set_text(l.text);
    out->set_unix_ms(l.unix_ms);
    SendToHub(m);
  };
  if (req.follow()) {
    uint64_t sub = supervisor_->Subscribe([matches, send](const LogLine& l) {
      if (matches(l)) send(l);
    });
    std::lock_guard lock(mu_);
    log_subscriptions_[id] = sub;
  }
  for (const auto& l : supervisor_->Tail(req.app(), req.commit(), req.role(), req.tail() ? req.tail() : 100))
    if (matches(l)) send(l);
  if (!req.follow()) Done(id, Status::Ok());
}

v1::ProcessStatus Agent::ToProto(const ProcStatus& p) const {
  v1::ProcessStatus out;
  out.set_app(p.key.app);
  out.set_commit(p.key.commit);
  out.set_role(p.key.role);
  out.set_instance(p.key.instance);
  out.set_drone(o_.name);
  out.set_pid(p.pid);
  out.set_port(p.port);
  out.set_state(p.crash_loop && p.state == ProcState::kBackoff ? "crash-loop" : StateName(p.state));
  out.set_restarts(p.restarts);
  out.set_last_error(p.last_error);
  out.set_started_unix_ms(p.started_unix_ms);
  return out;
}

void Agent::OnProcess(const ProcStatus& p) {
  // Traffic only to a settled instance (ready for min-uptime). One that was
  // registered and is not live now (crashed, restarting, crash-looping)
  // stays registered as critical: it takes no traffic, and the router still
  // knows the app is deployed (503, not 404). Stopped: deregistered first.
  const bool live = p.state == ProcState::kReady && p.settled;
  const bool going = p.state == ProcState::kStopping || p.state == ProcState::kStopped;
  if (going) {
    registry_->Deregister(p.key);
  } else if (live || registry_->IsWanted(p.key)) {
    std::optional<v1::Endpoint> ep;
    {
      std::lock_guard lock(mu_);
      if (auto it = endpoints_.find(p.key); it != endpoints_.end()) ep = it->second;
    }
    if (ep) {
      ep->set_pid(p.pid);
      ep->set_health(live ? v1::HEALTH_PASSING : v1::HEALTH_CRITICAL);
      registry_->WantRegistered(p.key, *ep);
    }
  }
  if (p.state == ProcState::kFailed && p.port_clash) {
    bool in_deploy;
    {
      std::lock_guard lock(mu_);
      in_deploy = specs_.count(p.key) > 0;
    }
    if (!in_deploy) Spawn([this, key = p.key] { MoveOffClashLater(key); }, /*unless_stopping=*/true);
  }
  v1::DroneMessage m;
  if (p.state == ProcState::kStopped) {
    {
      std::lock_guard lock(mu_);
      endpoints_.erase(p.key);
      running_specs_.erase(p.key);
    }
    registry_->ReleasePort(o_.advertise, p.port);
    auto* g = m.mutable_gone();
    g->set_app(p.key.app);
    g->set_commit(p.key.commit);
    g->set_role(p.key.role);
    g->set_instance(p.key.instance);
  } else {
    *m.mutable_status() = ToProto(p);
  }
  SendToHub(m);
}

}  // namespace skyport::drone
