#include "hub/deploys/service.h"

#include <map>
#include <mutex>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "core/names.h"
#include "core/prom_text.h"
#include "contract/config_vars.h"
#include "hub/deploys/config_rollout.h"
#include "hub/deploys/log_follower.h"
#include "hub/deploys/operations.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::hub {
namespace {

grpc::Status Invalid(const std::string& m) { return {grpc::StatusCode::INVALID_ARGUMENT, m}; }

constexpr size_t kMaxVersionBytes = 256;  // DroneHello.version, shown by `skyport status`

// The Attach stream as a DroneLink: writes are serialized, and never touch
// the stream once its handler has returned.
class StreamLink final : public DroneLink {
 public:
  StreamLink(grpc::ServerContext* ctx, grpc::ServerReaderWriter<v1::HubCommand, v1::DroneMessage>* s)
      : ctx_(ctx), stream_(s) {}
  bool Send(const v1::HubCommand& cmd) override {
    std::lock_guard lock(mu_);
    return !closed_ && stream_->Write(cmd);
  }
  void Close() override {
    std::lock_guard lock(mu_);
    if (!closed_) ctx_->TryCancel();
  }
  void MarkClosed() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  grpc::ServerContext* ctx_;
  grpc::ServerReaderWriter<v1::HubCommand, v1::DroneMessage>* stream_;
};

}  // namespace

grpc::Status HubService::Deploy(grpc::ServerContext* ctx, const v1::DeployRequest* req,
                                grpc::ServerWriter<v1::DeployProgress>* writer) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  OperationHooks hooks;
  hooks.progress = [writer](const v1::DeployProgress& p) { writer->Write(p); };
  hooks.cancelled = [ctx] { return ctx->IsCancelled(); };
  return rpc::ToGrpc(RunDeploy(hub_, repos_, *req, o_.deploy_timeout_ms, hooks));
}

grpc::Status HubService::Stop(grpc::ServerContext* ctx, const v1::StopRequest* req, v1::StopResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  OperationHooks hooks;
  hooks.cancelled = [ctx] { return ctx->IsCancelled(); };
  if (o_.stop_guard != nullptr && !req->force())
    hooks.may_stop = [g = o_.stop_guard](const std::string& app, const std::string& commit) {
      return g->Check(app, commit);
    };
  auto stopped = RunStop(hub_, repos_, *req, o_.stop_timeout_ms, hooks);
  if (!stopped.ok()) return rpc::ToGrpc(stopped.status());
  resp->set_stopped(*stopped);
  return grpc::Status::OK;
}

// An app the hub has a repository of, or that a drone runs (`running`: the
// caller's hub_->Ps(app) was not empty): else NOT_FOUND (`ps`/`logs` of a
// misspelled app must not look like an idle one).
Status HubService::KnownApp(const std::string& app, bool running) {
  if (running) return Status::Ok();
  for (const auto& a : repos_->Apps())
    if (a == app) return Status::Ok();
  return Status::NotFound("no app named " + app + " (nothing pushed, nothing running)");
}

grpc::Status HubService::Ps(grpc::ServerContext* ctx, const v1::PsRequest* req, v1::PsResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  if (!req->app().empty())
    if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  auto procs = hub_->Ps(req->app());
  if (!req->app().empty())
    if (Status s = KnownApp(req->app(), !procs.empty()); !s.ok()) return rpc::ToGrpc(s);
  for (auto& p : procs) *resp->add_processes() = std::move(p);
  return grpc::Status::OK;
}

grpc::Status HubService::AppSet(grpc::ServerContext* ctx, const v1::AppSetRequest* req,
                                v1::AppSettingsResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (Status s = KnownApp(req->app(), !hub_->Ps(req->app()).empty()); !s.ok()) return rpc::ToGrpc(s);
  AppSettings settings = hub_->AppSettingsOf(req->app());
  if (req->has_deploy_on_push()) {
    if (Status s = ValidateBranch(req->deploy_on_push()); !s.ok()) return rpc::ToGrpc(s);
    settings.deploy_on_push = req->deploy_on_push();
    if (Status s = hub_->SetAppSettings(req->app(), settings); !s.ok()) return rpc::ToGrpc(s);
    log::Info("app settings changed", {{"app", req->app()}, {"deploy_on_push", settings.deploy_on_push}});
  }
  resp->set_app(req->app());
  resp->mutable_settings()->set_deploy_on_push(settings.deploy_on_push);
  return grpc::Status::OK;
}

grpc::Status HubService::Drones(grpc::ServerContext* ctx, const v1::DronesRequest*, v1::DronesResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  for (auto& d : hub_->Drones()) *resp->add_drones() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status HubService::Logs(grpc::ServerContext* ctx, const v1::LogsRequest* req,
                              grpc::ServerWriter<v1::LogLine>* writer) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (!req->commit().empty())
    if (Status s = ValidateCommitPrefix("commit", req->commit()); !s.ok()) return rpc::ToGrpc(s);
  if (!req->role().empty())
    if (Status s = ValidateName("role", req->role()); !s.ok()) return rpc::ToGrpc(s);
  if (req->release() && req->commit().empty())
    return Invalid("release: the release step's output is per commit; give the commit");
  if (req->release() && req->follow()) return Invalid("release: cannot be followed (the step has ended)");
  v1::LogsRequest forward = *req;
  if (!req->follow()) {  // a follower may wait for an app's first push
    if (req->commit().empty()) {
      if (Status s = KnownApp(req->app(), !hub_->Ps(req->app()).empty()); !s.ok()) return rpc::ToGrpc(s);
    } else if (auto c = repos_->Resolve(req->app(), req->commit()); !c.ok() && c.status().code() == Code::kNotFound) {
      return rpc::ToGrpc(Status::NotFound(req->app() + "@" + req->commit() + ": no such app or commit (" +
                                          c.status().message() + ")"));
    } else if (c.ok()) {
      forward.set_commit(*c);  // the drones read a stopped commit's files by its full name
    }
  }
  // Bounded per call: a client that stops reading costs at most this much
  // (then lines are dropped, and a marker says how many).
  auto box = std::make_shared<LogFollowerQueue>(o_.logs_follower_max_bytes);
  Answer into = [this, box](const std::string& drone, const v1::DroneMessage& m) {
    if (!box->Push(drone, m)) log_lines_skipped_.fetch_add(1, std::memory_order_relaxed);
  };
  ++log_followers_;
  std::map<std::string, uint64_t> ids;
  for (const auto& dr : hub_->ConnectedDrones()) {
    v1::HubCommand cmd;
    *cmd.mutable_logs() = forward;
    auto id = hub_->Send(dr, cmd, into);
    if (id.ok()) ids[dr] = *id;
  }
  size_t done = 0;
  while (!ctx->IsCancelled() && (req->follow() || done < ids.size())) {
    auto got = box->Pop(kAnswerPoll);
    if (!got) continue;
    if (got->skipped > 0) {
      static LogLimiter limiter;  // one line per 10 s for all calls
      static std::mutex limiter_mu;
      uint64_t held = 0;
      bool say;
      {
        std::lock_guard lock(limiter_mu);
        say = limiter.Allow(SystemClock::Get()->MonoMs(), &held);
      }
      if (say)
        log::Warn("logs: a slow client missed lines (its queue was full)",
                  {{"app", req->app()}, {"skipped", got->skipped}, {"max_bytes", o_.logs_follower_max_bytes},
                   {"more_since_last_line", held}});
      v1::LogLine marker = LogFollowerQueue::Marker(got->skipped);
      marker.set_drone(got->drone);  // whose lines were dropped
      if (!writer->Write(marker)) break;
      continue;
    }
    if (got->msg.has_log()) {
      v1::LogLine line = got->msg.log();
      line.set_drone(got->drone);
      if (!writer->Write(line)) break;
    }
    if (got->msg.has_done()) ++done;
  }
  for (const auto& [dr, id] : ids) hub_->Cancel(dr, id);
  --log_followers_;
  return grpc::Status::OK;
}

// ---- config vars
namespace {

v1::AppConfig ConfigMessage(const std::string& app, const AppConfigVars& c, bool reveal) {
  v1::AppConfig out;
  out.set_app(app);
  out.set_version(c.version);
  out.set_masked(!reveal);
  out.set_updated_unix_ms(c.updated_unix_ms);
  for (const auto& [k, v] : MaskConfig(c.vars, reveal)) (*out.mutable_vars())[k] = v;
  return out;
}

}  // namespace

grpc::Status HubService::ConfigGet(grpc::ServerContext* ctx, const v1::ConfigGetRequest* req, v1::AppConfig* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  const AppConfigVars c = hub_->Config(req->app());
  if (Status s = KnownApp(req->app(), c.version > 0 || !hub_->Ps(req->app()).empty()); !s.ok())
    return rpc::ToGrpc(s);
  *resp = ConfigMessage(req->app(), c, req->reveal());
  return grpc::Status::OK;
}

grpc::Status HubService::ConfigChange(grpc::ServerContext* ctx, const v1::ConfigChangeRequest* req,
                                      grpc::ServerWriter<v1::ConfigChangeEvent>* writer) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (auto standby = StandbyCheck(o_.gate, *ctx)) return *standby;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->set().empty() && req->unset().empty()) return Invalid("config: nothing to set or unset");
  if (req->timeout_s() > kMaxDeployTimeoutS) return Invalid(fmt::format("timeout_s: at most {}", kMaxDeployTimeoutS));
  // A config belongs to an app that exists: pushed (or running, or configured).
  if (Status s = KnownApp(req->app(), hub_->Config(req->app()).version > 0 || !hub_->Ps(req->app()).empty());
      !s.ok())
    return rpc::ToGrpc(s);
  skyport::ConfigChange change;
  change.set.insert(req->set().begin(), req->set().end());
  change.unset.assign(req->unset().begin(), req->unset().end());
  std::mutex write_mu;  // RunDeploy's progress and our own events share the stream
  auto write = [&](const v1::ConfigChangeEvent& e) {
    std::lock_guard lock(write_mu);
    writer->Write(e);
  };
  ConfigRolloutHooks hooks;
  hooks.saved = [&](const AppConfigVars& c) {
    v1::ConfigChangeEvent e;
    *e.mutable_saved() = ConfigMessage(req->app(), c, /*reveal=*/false);
    write(e);
  };
  hooks.restarting = [&](const std::string& commit) {
    v1::ConfigChangeEvent e;
    e.set_restarting(commit);
    write(e);
  };
  hooks.deploy.progress = [&](const v1::DeployProgress& p) {
    v1::ConfigChangeEvent e;
    *e.mutable_progress() = p;
    write(e);
  };
  hooks.deploy.cancelled = [ctx] { return ctx->IsCancelled(); };
  const int64_t timeout_ms = req->timeout_s() != 0 ? int64_t{req->timeout_s()} * 1000 : o_.deploy_timeout_ms;
  bool saved = false;
  hooks.saved = [&, announce = hooks.saved](const AppConfigVars& c) {
    saved = true;
    announce(c);
  };
  auto done = RunConfigChange(hub_, repos_, req->app(), change, timeout_ms, hooks);
  if (saved) ++config_changes_;
  if (!saved && (done.status().code() == Code::kInvalidArgument || done.status().code() == Code::kResourceExhausted))
    ++config_refused_;
  if (saved && !done.ok()) ++config_roll_failures_;
  return rpc::ToGrpc(done.status());
}

std::string HubService::MetricsText() const {
  PromText out;
  out.Counter("skyport_hub_logs_lines_skipped_total",
              "Log lines dropped because a `skyport logs` client read slower than its apps wrote "
              "(--logs-follower-max-kb).",
              log_lines_skipped_.load());
  out.Gauge("skyport_hub_logs_followers", "Open `skyport logs` calls.", log_followers_.load());
  out.Counter("skyport_hub_config_changes_total", "`skyport config set|unset` changes saved (each a new version).",
              config_changes_.load());
  out.Counter("skyport_hub_config_refused_total",
              "`skyport config set|unset` changes refused: a bad name or value, or past a bound (nothing saved).",
              config_refused_.load());
  out.Counter("skyport_hub_config_rollout_failures_total",
              "Config changes saved whose rolling restart failed on some drone.", config_roll_failures_.load());
  return out.Take();
}

grpc::Status DroneControlService::Attach(grpc::ServerContext* ctx,
                                         grpc::ServerReaderWriter<v1::HubCommand, v1::DroneMessage>* stream) {
  if (auto s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
  if (auto standby = StandbyCheck(gate_, *ctx)) return *standby;
  v1::DroneMessage first;
  if (!stream->Read(&first) || !first.has_hello()) return Invalid("the first message must be a hello");
  const v1::DroneHello& hello = first.hello();
  if (hello.name().empty()) return Invalid("hello.name: required");
  if (Status s = ValidateDroneName("hello.name", hello.name()); !s.ok()) return rpc::ToGrpc(s);
  if (Status s = ValidateHost("hello.advertise", hello.advertise()); !s.ok()) return rpc::ToGrpc(s);
  if (hello.version().size() > kMaxVersionBytes)
    return Invalid(fmt::format("hello.version: longer than {} bytes", kMaxVersionBytes));
  auto link = std::make_shared<StreamLink>(ctx, stream);
  uint64_t session = hub_->Attach(link, hello);
  v1::DroneMessage msg;
  while (stream->Read(&msg)) hub_->OnMessage(hello.name(), session, msg);
  link->MarkClosed();
  hub_->Detach(hello.name(), session);
  return grpc::Status::OK;
}

grpc::Status DroneControlService::FetchCommit(grpc::ServerContext* ctx, const v1::FetchCommitRequest* req,
                                              grpc::ServerWriter<v1::PackChunk>* writer) {
  if (auto s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
  if (auto standby = StandbyCheck(gate_, *ctx)) return *standby;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->commit().size() != 40 || !IsHex(req->commit()))
    return Invalid("commit: must be a full 40-character hash");
  Status s = repos_->PackCommit(req->app(), req->commit(), [&](std::string_view chunk) {
    v1::PackChunk c;
    c.set_data(std::string(chunk));
    return writer->Write(c);
  });
  return rpc::ToGrpc(s);
}

}  // namespace skyport::hub
