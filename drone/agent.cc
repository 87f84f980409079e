#include "drone/agent.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log_limiter.h"
#include "core/log.h"
#include "core/names.h"
#include "core/version.h"
#include "drone/data_dir.h"
#include "drone/hub_messages.h"
#include "drone/stored_logs.h"
#include "rpc/auth.h"
#include "rpc/failover.h"

namespace fs = std::filesystem;

namespace skyport::drone {
namespace {

// The hub checks these too; the drone checks again before they name paths under its data dir.
Status CheckTarget(const std::string& app, const std::string& commit) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  return ValidateCommit("commit", commit);
}

}  // namespace

Agent::Agent(AgentOptions o) : o_(std::move(o)), launch_(o_.app, o_.app_env_pass, o_.app_uids) {}

Agent::~Agent() { Shutdown(); }

Status Agent::Start() {
  if (Status s = PrepareDataDir(o_.data_dir, o_.app.user, o_.app_uids); !s.ok()) return s;

  auto registries = rpc::AddressPool::Create("registry", o_.registry, o_.tls);
  if (!registries.ok()) return registries.status();
  auto hubs = rpc::AddressPool::Create("hub", o_.hub, o_.tls);
  if (!hubs.ok()) return hubs.status();
  hubs_ = *hubs;
  registry_ = std::make_unique<RegistryLink>(*registries, o_.token, o_.lease_ttl_s);
  const int64_t removed = registry_->Start(ReadSavedLease(o_.data_dir));
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

  InstanceRunnerOptions io;
  io.name = o_.name;
  io.advertise = o_.advertise;
  io.drain_ms = o_.drain_ms;
  io.ready_timeout_ms = o_.ready_timeout_ms;
  io.min_uptime_ms = o_.min_uptime_ms;
  io.port_clash_retries = o_.port_clash_retries;
  {
    // OnProcess may run from now on (the supervisor is up).
    std::lock_guard lock(mu_);
    instances_ = std::make_unique<InstanceRunner>(io, *supervisor_, *registry_, launch_, locks_,
                                                  [this](std::function<void()> work) {
                                                    Spawn(std::move(work), /*unless_stopping=*/true);
                                                  });
  }
  fetcher_ = std::make_unique<HubFetcher>(hubs_, o_.token, o_.data_dir);
  checkout_ = std::make_unique<GitCheckout>(o_.data_dir, launch_);
  release_ = std::make_unique<ReleaseStep>(o_.name, launch_, [this](const v1::DroneMessage& m) { SendToHub(m); },
                                           so.log_dir);
  pipeline_ = std::make_unique<DeployPipeline>(PipelineOptions{o_.data_dir, o_.fixed_command, o_.fixed_role},
                                               *fetcher_, *checkout_, *release_, *instances_, random_);
  DiskJanitorOptions jo;
  jo.data_dir = o_.data_dir;
  jo.policy.retention_ms = o_.retention_ms;
  jo.interval_ms = o_.gc_interval_ms;
  janitor_ = std::make_unique<DiskJanitor>(
      jo,
      [this] {
        std::set<CommitKey> in_use;
        for (const auto& p : supervisor_->List()) in_use.insert({p.key.app, p.key.commit});
        return in_use;
      },
      [this](const std::string& app, const std::string& commit) -> std::mutex& { return locks_.Lock(app, commit); });
  if (o_.retention_ms > 0) janitor_->Start();  // 0: kept forever
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
  janitor_.reset();  // a pass in progress ends first
  if (instances_) instances_->BeginShutdown();
  if (attach_thread_.joinable()) attach_thread_.join();
  std::map<uint64_t, std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& [id, t] : workers) t.join();
  if (instances_) instances_->StopAll();
  else if (supervisor_) supervisor_->StopAll(o_.drain_ms);
  if (registry_) registry_->Shutdown();
  (void)SaveLease(o_.data_dir, 0);
}

void Agent::SaveState() {
  // The lease, so that a restarted drone can drop what this run registered.
  if (Status s = SaveLease(o_.data_dir, registry_->lease()); !s.ok())
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

void Agent::Done(uint64_t id, const Status& s) { SendToHub(DoneMessage(id, s)); }

void Agent::Progress(uint64_t id, const std::string& commit, DeployStage stage, const std::string& message) {
  SendToHub(ProgressMessage(id, o_.name, commit, stage, message, SystemClock::Get()->WallMs()));
}

void Agent::AttachLoop() {
  SystemRandom random;
  // With one hub the stream waits for it while it is away (wait_for_ready)
  // and is attached within the channel's reconnect backoff of its return.
  // With a list, each hub in turn (rpc/failover.h): an unreachable one
  // passes at once to the next, a standby to the leader it names
  // (rpc/leader.h); the backoff spaces out rounds in which none took the
  // drone, and streams a hub itself ends.
  const bool single = hubs_->listed_count() == 1;
  const BackoffPolicy policy = kReconnectBackoff;
  LogLimiter retry_log;
  int attempt = 0;
  for (;;) {
    rpc::FailoverWalk walk(*hubs_, rpc::Retry::kSafe);
    grpc::Status s;
    std::string address;
    bool got_any = false;
    while (auto next = walk.Next()) {
      address = *next;
      auto channel = hubs_->Channel(address);
      if (!channel.ok()) {
        walk.Unreachable(address, channel.status().message());
        continue;
      }
      grpc::ClientContext ctx;
      rpc::AttachToken(ctx, o_.token);
      ctx.set_wait_for_ready(single);
      if (!RunAttachStream(address, *channel, ctx, s, got_any)) return;  // stopping
      if (got_any) {
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) hubs_->Failed(address);
        break;
      }
      if (!walk.Judge(address, ctx, s)) break;
    }
    if (got_any) attempt = 0;
    int64_t delay = BackoffDelayMs(policy, attempt++, random.Uniform01());
    uint64_t held = 0;
    if (got_any || retry_log.Allow(MonoNowMs(), &held))
      log::Warn("not attached to the hub; retrying",
                {{"hub", address}, {"listed", hubs_->listed()}, {"error", s.error_message()},
                 {"code", static_cast<int>(s.error_code())}, {"retry_ms", delay}, {"more_since_last_line", held}});
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(delay), [&] { return stopping_; });
    if (stopping_) return;
  }
}

bool Agent::RunAttachStream(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                            grpc::ClientContext& ctx,
                            grpc::Status& status, bool& got_any) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    attach_ctx_ = &ctx;
  }
  auto stub = v1::DroneControl::NewStub(channel);
  auto stream = stub->Attach(&ctx);
  v1::DroneMessage hello;
  auto* h = hello.mutable_hello();
  h->set_name(o_.name);
  h->set_advertise(o_.advertise);
  h->mutable_labels()->insert(o_.labels.begin(), o_.labels.end());
  h->set_fixed_command(o_.fixed_command);
  h->set_version(VersionLine("drone"));
  for (const auto& p : supervisor_->List()) {
    v1::ProcessStatus* r = h->add_running();
    *r = StatusMessage(p, o_.name);
    r->set_config_version(instances_->ConfigVersion(p.key));
  }
  {
    std::lock_guard lock(write_mu_);
    stream_ = stream.get();
  }
  bool attached = stream->Write(hello);
  v1::HubCommand cmd;
  while (attached && stream->Read(&cmd)) {
    if (!got_any) {
      log::Info("attached to the hub", {{"hub", address}, {"listed", hubs_->listed()}});
      hubs_->Answered(address);
    }
    got_any = true;
    Dispatch(cmd);
  }
  {
    std::lock_guard lock(write_mu_);
    stream_ = nullptr;
  }
  status = stream->Finish();
  std::lock_guard lock(mu_);
  attach_ctx_ = nullptr;
  return !stopping_;
}

void Agent::Dispatch(const v1::HubCommand& cmd) {
  const uint64_t id = cmd.command_id();
  if (cmd.has_deploy()) {
    Spawn([this, id, req = cmd.deploy()] { Deploy(id, req); });
  } else if (cmd.has_stop()) {
    Spawn([this, id, req = cmd.stop()] { Stop(id, req); });
  } else if (cmd.has_logs() && (cmd.logs().release() || !cmd.logs().follow())) {
    Spawn([this, id, req = cmd.logs()] { Logs(id, req); });  // may read files
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

void Agent::Deploy(uint64_t id, const v1::DeployRequest& req) {
  if (Status s = CheckTarget(req.app(), req.commitish()); !s.ok()) return Done(id, s);
  DeployOrder order;
  order.app = req.app();
  order.commit = req.commitish();
  order.instances = req.instances();
  order.env = {req.env().begin(), req.env().end()};
  order.config_version = req.config_version();
  order.deployed_unix_ms = req.deployed_unix_ms();
  // From the command's arrival: waiting for the lock counts.
  DeployRun run = DeployRun::Begin(*SystemClock::Get(), req.budget_ms());
  std::lock_guard deploy_lock(locks_.Lock(order.app, order.commit));
  run.cancel = locks_.Cancel(order.app, order.commit);
  run.cancel->store(false);  // a stop before this deploy is not about it
  Status s = pipeline_->Run(order, run, [&](DeployStage stage, const std::string& message) {
    Progress(id, order.commit, stage, message);
  });
  SaveState();
  Done(id, s);
}

void Agent::Stop(uint64_t id, const v1::StopRequest& req) {
  const std::string& commit = req.commitish();
  if (Status s = CheckTarget(req.app(), commit); !s.ok()) return Done(id, s);
  // A deploy of it in flight (fetch, release, start) gives up at once.
  locks_.Cancel(req.app(), commit)->store(true);
  std::lock_guard deploy_lock(locks_.Lock(req.app(), commit));
  instances_->StopDeployment(req.app(), commit);
  std::error_code ec;
  fs::remove_all(DeployDir(o_.data_dir, req.app(), commit), ec);
  log::Info("stopped", {{"app", req.app()}, {"commit", commit.substr(0, 12)}});
  Done(id, ec ? Status::Internal("remove checkout: " + ec.message()) : Status::Ok());
}

void Agent::Logs(uint64_t id, const v1::LogsRequest& req) {
  if (req.release()) return StoredLogs(id, req);
  auto matches = [req](const LogLine& l) {
    return l.key.app == req.app() && (req.commit().empty() || l.key.commit.starts_with(req.commit())) &&
           (req.role().empty() || l.key.role == req.role());
  };
  auto send = [this, id](const LogLine& l) { SendToHub(LogMessage(id, o_.name, l)); };
  if (req.follow()) {
    uint64_t sub = supervisor_->Subscribe([matches, send](const LogLine& l) {
      if (matches(l)) send(l);
    });
    std::lock_guard lock(mu_);
    log_subscriptions_[id] = sub;
  }
  size_t sent = 0;
  for (const auto& l : supervisor_->Tail(req.app(), req.commit(), req.role(), req.tail() ? req.tail() : 100))
    if (matches(l)) {
      send(l);
      ++sent;
    }
  // Nothing in memory for that commit (it stopped a while ago, or before this
  // drone restarted): what its log files still hold.
  if (sent == 0 && !req.commit().empty() && !req.follow()) return StoredLogs(id, req);
  if (!req.follow()) Done(id, Status::Ok());
}

void Agent::StoredLogs(uint64_t id, const v1::LogsRequest& req) {
  const size_t n = std::min<size_t>(req.tail() ? req.tail() : 100, 10'000);
  if (req.commit().empty()) return Done(id, Status::InvalidArgument("logs --release: needs a commit"));
  const std::string dir = o_.data_dir + "/logs";
  auto lines = req.release() ? ReadReleaseLog(dir, req.app(), req.commit(), n)
                             : ReadStoredLogs(dir, req.app(), req.commit(), req.role(), n);
  if (!lines.ok()) return Done(id, lines.status());
  for (const auto& l : *lines) SendToHub(LogMessage(id, o_.name, l));
  Done(id, Status::Ok());
}

void Agent::OnProcess(const ProcStatus& p) {
  InstanceRunner* instances;
  {
    std::lock_guard lock(mu_);
    instances = instances_.get();
  }
  if (instances) instances->OnChange(p);
  v1::DroneMessage m;
  if (p.state == ProcState::kStopped)
    m = GoneMessage(p.key.app, p.key.commit, p.key.role, p.key.instance);
  else
    *m.mutable_status() = StatusMessage(p, o_.name);
  if (instances && m.has_status()) m.mutable_status()->set_config_version(instances->ConfigVersion(p.key));
  SendToHub(m);
}

}  // namespace skyport::drone
