#include "hub/service.h"

#include <chrono>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "hub/mailbox.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::hub {
namespace {

using Answers = Mailbox<std::pair<std::string, v1::DroneMessage>>;
constexpr auto kPoll = std::chrono::milliseconds(200);
constexpr uint32_t kMaxInstances = 64;

grpc::Status Invalid(const std::string& m) { return {grpc::StatusCode::INVALID_ARGUMENT, m}; }

bool EnvNameOk(const std::string& k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

int64_t NowMs() { return SystemClock::Get()->MonoMs(); }

// Routes a command's answers into `box`, for the handler waiting on it.
Answer Into(std::shared_ptr<Answers> box) {
  return [box](const std::string& drone, const v1::DroneMessage& m) { box->Push({drone, m}); };
}

// "d1: reason; d2: reason".
std::string JoinFailures(const std::map<std::string, std::string>& failed) {
  std::string out;
  for (const auto& [drone, err] : failed) out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", drone, err);
  return out;
}

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
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->commitish().empty()) return Invalid("commitish: required (a hash, a prefix of one, or a branch)");
  if (req->instances() > kMaxInstances) return Invalid(fmt::format("instances: at most {}", kMaxInstances));
  for (const auto& [k, v] : req->env())
    if (!EnvNameOk(k)) return Invalid(fmt::format("env: \"{}\" is not a valid variable name", k));
  auto commit = repos_->Resolve(req->app(), req->commitish());
  if (!commit.ok()) return rpc::ToGrpc(commit.status());
  auto targets = hub_->ChooseTargets(req->target());
  if (!targets.ok()) return rpc::ToGrpc(targets.status());

  Deployment d;
  d.app = req->app();
  d.commit = *commit;
  d.instances = std::max<uint32_t>(1, req->instances());
  d.env.insert(req->env().begin(), req->env().end());
  d.drones.insert(targets->begin(), targets->end());
  d.created_unix_ms = SystemClock::Get()->WallMs();
  if (Status s = hub_->Desire(d); !s.ok()) return rpc::ToGrpc(s);
  const std::string what = fmt::format("{}@{}", d.app, d.commit.substr(0, 12));
  log::Info("deploy", {{"deployment", what}, {"drones", static_cast<int64_t>(targets->size())}});

  auto box = std::make_shared<Answers>();
  std::map<std::string, std::string> failed;
  std::set<std::string> waiting;
  for (const auto& drone : *targets) {
    v1::HubCommand cmd;
    *cmd.mutable_deploy() = *req;
    cmd.mutable_deploy()->set_commitish(d.commit);
    cmd.mutable_deploy()->set_instances(d.instances);
    auto id = hub_->Send(drone, cmd, Into(box));
    if (id.ok()) waiting.insert(drone);
    else failed[drone] = id.status().message();
  }
  const int64_t deadline = NowMs() + o_.deploy_timeout_ms;
  bool client_gone = false;
  while (!waiting.empty()) {
    if (ctx->IsCancelled()) {
      client_gone = true;
      break;
    }
    if (NowMs() > deadline) {
      for (const auto& dr : waiting) failed[dr] = fmt::format("timed out after {} s", o_.deploy_timeout_ms / 1000);
      break;
    }
    auto got = box->Pop(kPoll);
    if (!got) continue;
    auto& [drone, msg] = *got;
    if (msg.has_progress()) {
      v1::DeployProgress p = msg.progress();
      p.set_drone(drone);
      writer->Write(p);
    }
    if (msg.has_done()) {
      waiting.erase(drone);
      if (!msg.done().ok()) failed[drone] = msg.done().error();
    }
  }
  if (client_gone) return {grpc::StatusCode::CANCELLED, "the client went away; the deploy goes on"};
  if (failed.empty()) return grpc::Status::OK;

  // A failed target keeps nothing of this deploy, so reconcile won't retry it.
  std::set<std::string> failed_drones;
  const std::string summary = JoinFailures(failed);
  for (const auto& [dr, err] : failed) {
    failed_drones.insert(dr);
    v1::DeployProgress p;
    p.set_drone(dr);
    p.set_commit(d.commit);
    p.set_stage(v1::DeployProgress::FAILED);
    p.set_message(err);
    p.set_unix_ms(SystemClock::Get()->WallMs());
    writer->Write(p);
  }
  (void)hub_->Undesire(d.app, d.commit, failed_drones);
  log::Warn("deploy failed", {{"deployment", what}, {"errors", summary}});
  return {grpc::StatusCode::ABORTED,
          fmt::format("deploy of {} failed on {} of {} drones: {}", what, failed.size(), targets->size(), summary)};
}

Result<std::string> HubService::ResolveForStop(const std::string& app, const std::string& commitish) const {
  if (commitish.size() >= 4 && IsHex(commitish)) {
    auto known = hub_->KnownCommits(app, commitish);
    if (known.size() == 1) return *known.begin();
    if (known.size() > 1)
      return Status::FailedPrecondition(fmt::format("commitish: \"{}\" matches {} deployed commits; give more of it",
                                                    commitish, known.size()));
  }
  return repos_->Resolve(app, commitish);
}

grpc::Status HubService::Stop(grpc::ServerContext* ctx, const v1::StopRequest* req, v1::StopResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->commitish().empty()) return Invalid("commitish: required");
  auto commit = ResolveForStop(req->app(), req->commitish());
  if (!commit.ok()) return rpc::ToGrpc(commit.status());
  std::set<std::string> drones(req->drones().begin(), req->drones().end());
  std::set<std::string> targets = drones.empty() ? hub_->DronesWith(req->app(), *commit) : drones;
  if (Status s = hub_->Undesire(req->app(), *commit, drones); !s.ok()) return rpc::ToGrpc(s);
  if (targets.empty())
    return {grpc::StatusCode::NOT_FOUND, fmt::format("{}@{} is not deployed", req->app(), commit->substr(0, 12))};

  auto box = std::make_shared<Answers>();
  std::set<std::string> waiting;
  std::map<std::string, std::string> failed;
  for (const auto& dr : targets) {
    v1::HubCommand cmd;
    cmd.mutable_stop()->set_app(req->app());
    cmd.mutable_stop()->set_commitish(*commit);
    auto id = hub_->Send(dr, cmd, Into(box));
    // A detached drone stops it when it comes back (reconcile).
    if (id.ok()) waiting.insert(dr);
  }
  const int64_t deadline = NowMs() + o_.stop_timeout_ms;
  while (!waiting.empty() && NowMs() < deadline && !ctx->IsCancelled()) {
    auto got = box->Pop(kPoll);
    if (!got || !got->second.has_done()) continue;
    waiting.erase(got->first);
    if (got->second.done().ok()) resp->set_stopped(resp->stopped() + 1);
    else failed[got->first] = got->second.done().error();
  }
  for (const auto& dr : waiting) failed[dr] = "no answer before the timeout";
  if (failed.empty()) return grpc::Status::OK;
  return {grpc::StatusCode::ABORTED, "stop failed on " + JoinFailures(failed)};
}

grpc::Status HubService::Ps(grpc::ServerContext* ctx, const v1::PsRequest* req, v1::PsResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (!req->app().empty())
    if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  for (auto& p : hub_->Ps(req->app())) *resp->add_processes() = std::move(p);
  return grpc::Status::OK;
}

grpc::Status HubService::Drones(grpc::ServerContext* ctx, const v1::DronesRequest*, v1::DronesResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  for (auto& d : hub_->Drones()) *resp->add_drones() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status HubService::Logs(grpc::ServerContext* ctx, const v1::LogsRequest* req,
                              grpc::ServerWriter<v1::LogLine>* writer) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (!req->commit().empty())
    if (Status s = ValidateCommitPrefix("commit", req->commit()); !s.ok()) return rpc::ToGrpc(s);
  if (!req->role().empty())
    if (Status s = ValidateName("role", req->role()); !s.ok()) return rpc::ToGrpc(s);
  auto box = std::make_shared<Answers>();
  std::map<std::string, uint64_t> ids;
  for (const auto& dr : hub_->ConnectedDrones()) {
    v1::HubCommand cmd;
    *cmd.mutable_logs() = *req;
    auto id = hub_->Send(dr, cmd, Into(box));
    if (id.ok()) ids[dr] = *id;
  }
  size_t done = 0;
  while (!ctx->IsCancelled() && (req->follow() || done < ids.size())) {
    auto got = box->Pop(kPoll);
    if (!got) continue;
    if (got->second.has_log()) {
      v1::LogLine line = got->second.log();
      line.set_drone(got->first);
      if (!writer->Write(line)) break;
    }
    if (got->second.has_done()) ++done;
  }
  for (const auto& [dr, id] : ids) hub_->Cancel(dr, id);
  return grpc::Status::OK;
}

grpc::Status DroneControlService::Attach(grpc::ServerContext* ctx,
                                         grpc::ServerReaderWriter<v1::HubCommand, v1::DroneMessage>* stream) {
  if (auto s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
  v1::DroneMessage first;
  if (!stream->Read(&first) || !first.has_hello()) return Invalid("the first message must be a hello");
  const v1::DroneHello& hello = first.hello();
  if (hello.name().empty()) return Invalid("hello.name: required");
  if (Status s = ValidateDroneName("hello.name", hello.name()); !s.ok()) return rpc::ToGrpc(s);
  if (Status s = ValidateHost("hello.advertise", hello.advertise()); !s.ok()) return rpc::ToGrpc(s);
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
