#include "hub/peer/peer_service.h"

#include <fmt/format.h>

#include <chrono>

#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "core/prom_text.h"
#include "hub/peer/replica_apply.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::hub::peer {
namespace {

struct Slot {  // one admitted call
  std::atomic<int>& calls;
  ~Slot() { calls.fetch_sub(1); }
};

Status CheckId(const std::string& what, const std::string& id) {
  if (id.size() != 40 || !IsHex(id)) return Status::InvalidArgument(what + ": must be 40 lowercase hex digits");
  return Status::Ok();
}

}  // namespace

grpc::Status HubPeerService::Authenticate(const grpc::ServerContext& ctx) {
  grpc::Status s = rpc::CheckToken(ctx, o_.token);
  if (!s.ok()) {
    unauthenticated_.fetch_add(1);
    Refuse("auth", s, "");
  }
  return s;
}

grpc::Status HubPeerService::Admit(const grpc::ServerContext& ctx) {
  if (ctx.deadline() > std::chrono::system_clock::now() + std::chrono::seconds(kMaxPeerCallSeconds)) {
    refused_other_.fetch_add(1);
    return Refuse("deadline", {grpc::StatusCode::INVALID_ARGUMENT,
                               fmt::format("a deadline of at most {} s is required", kMaxPeerCallSeconds)}, "");
  }
  if (calls_.fetch_add(1) < o_.max_calls) return grpc::Status::OK;
  calls_.fetch_sub(1);
  busy_.fetch_add(1);
  return Refuse("busy", {grpc::StatusCode::RESOURCE_EXHAUSTED, "too many peer calls at once; try again"}, "");
}

grpc::Status HubPeerService::Refuse(const char* cause, grpc::Status s, const std::string& app) {
  std::lock_guard lock(log_mu_);
  uint64_t suppressed = 0;
  if (log_limit_.Allow(SystemClock::Get()->MonoMs(), &suppressed))
    log::Warn("hub peer call refused", {{"cause", cause}, {"app", app}, {"error", s.error_message()},
                                       {"suppressed", suppressed}});
  return s;
}

grpc::Status HubPeerService::Replicate(grpc::ServerContext* ctx, grpc::ServerReader<v1::ReplicaChunk>* reader,
                                       v1::ReplicaAck* ack) {
  if (auto s = Authenticate(*ctx); !s.ok()) return s;
  if (auto s = Admit(*ctx); !s.ok()) return s;
  Slot slot{calls_};
  v1::ReplicaChunk first;
  if (!reader->Read(&first) || !first.has_header())
    return {grpc::StatusCode::INVALID_ARGUMENT, "the first message must carry the header"};
  const v1::ReplicaHeader& h = first.header();
  auto refuse = [&](const char* cause, std::atomic<uint64_t>& n, grpc::StatusCode code, const std::string& msg) {
    n.fetch_add(1);
    return Refuse(cause, grpc::Status(code, msg), h.app());
  };
  if (o_.leading && o_.leading())
    return refuse("leader", refused_leader_, grpc::StatusCode::FAILED_PRECONDITION, "this hub leads: it takes no replicated pushes");
  const std::string known = o_.leader_member ? o_.leader_member() : "";
  if (known.empty() || h.leader_member() != known)
    return refuse("leader", refused_leader_, grpc::StatusCode::FAILED_PRECONDITION,
                  fmt::format("the sender ({}) is not the leader this hub knows ({})", h.leader_member().substr(0, 64),
                              known.empty() ? "none" : known));
  if (Status s = ValidateName("app", h.app()); !s.ok())
    return refuse("checks", refused_checks_, grpc::StatusCode::INVALID_ARGUMENT, s.message());
  if (h.updates_size() == 0 || static_cast<uint64_t>(h.updates_size()) > o_.limits.max_refs)
    return refuse("checks", refused_checks_, grpc::StatusCode::INVALID_ARGUMENT,
                  fmt::format("{} ref updates; 1..{} allowed", h.updates_size(), o_.limits.max_refs));
  // The command rules of a client's push (ids, ref names, no ref twice).
  std::vector<std::string> lines;
  for (const auto& u : h.updates()) lines.push_back(u.old_id() + " " + u.new_id() + " " + u.ref());
  auto parsed = ParseCommands(lines);
  if (!parsed.ok())
    return refuse("checks", refused_checks_, grpc::StatusCode::INVALID_ARGUMENT, parsed.status().message());

  ReplicaApply apply(repos_, h.app(), parsed->commands, o_.limits, /*force=*/true);
  uint64_t bytes = first.data().size();
  apply.Feed(first.data());
  v1::ReplicaChunk chunk;
  while (reader->Read(&chunk)) {
    bytes += chunk.data().size();
    if (bytes > o_.limits.pack.max_pack_bytes)
      return refuse("checks", refused_checks_, grpc::StatusCode::RESOURCE_EXHAUSTED,
                    fmt::format("pack larger than {} bytes", o_.limits.pack.max_pack_bytes));
    apply.Feed(chunk.data());
  }
  // The sender gave up (deadline, cancel): nothing lands; it counts this copy as missing.
  if (ctx->IsCancelled())
    return refuse("other", refused_other_, grpc::StatusCode::CANCELLED, "the sender gave up before the pack was applied");
  ReplicaResult r = apply.Finish();
  if (!r.status.ok()) {
    const bool sync = r.status.code() == Code::kFailedPrecondition;
    const bool checks = r.status.code() == Code::kInvalidArgument;
    if (sync && o_.out_of_sync) o_.out_of_sync(r.status.message());
    (sync ? refused_sync_ : checks ? refused_checks_ : refused_other_).fetch_add(1);
    return Refuse(sync ? "out_of_sync" : checks ? "checks" : "other", rpc::ToGrpc(r.status), h.app());
  }
  applied_.fetch_add(1);
  ack->set_refs(static_cast<uint32_t>(r.applied));
  return grpc::Status::OK;
}

grpc::Status HubPeerService::Refs(grpc::ServerContext* ctx, const v1::RefsRequest*, v1::RefsResponse* out) {
  if (auto s = Authenticate(*ctx); !s.ok()) return s;
  auto all = ReadAllRefs(repos_);
  if (!all.ok()) return rpc::ToGrpc(all.status());
  size_t bytes = 0;
  for (const auto& [app, refs] : *all) {
    auto* a = out->add_apps();
    a->set_app(app);
    bytes += app.size() + 8;
    for (const auto& [name, id] : refs) {
      auto* r = a->add_refs();
      r->set_name(name);
      r->set_id(id);
      bytes += name.size() + id.size() + 8;
    }
    if (bytes > kMaxRefsReplyBytes)
      return Refuse("size", {grpc::StatusCode::RESOURCE_EXHAUSTED,
                             fmt::format("more than {} bytes of refs", kMaxRefsReplyBytes)}, app);
  }
  return grpc::Status::OK;
}

grpc::Status HubPeerService::FetchPack(grpc::ServerContext* ctx, const v1::FetchPackRequest* req,
                                       grpc::ServerWriter<v1::PackChunk>* writer) {
  if (auto s = Authenticate(*ctx); !s.ok()) return s;
  if (Status s = ValidateName("app", req->app()); !s.ok()) return rpc::ToGrpc(s);
  if (req->wants_size() == 0 || static_cast<size_t>(req->wants_size()) > kMaxWantsOrHaves ||
      static_cast<size_t>(req->haves_size()) > kMaxWantsOrHaves)
    return {grpc::StatusCode::INVALID_ARGUMENT, fmt::format("1..{} wants and at most {} haves", kMaxWantsOrHaves,
                                                            kMaxWantsOrHaves)};
  std::vector<std::string> wants(req->wants().begin(), req->wants().end());
  std::vector<std::string> haves(req->haves().begin(), req->haves().end());
  for (const auto& id : wants)
    if (Status s = CheckId("want", id); !s.ok()) return rpc::ToGrpc(s);
  for (const auto& id : haves)
    if (Status s = CheckId("have", id); !s.ok()) return rpc::ToGrpc(s);
  if (auto s = Admit(*ctx); !s.ok()) return s;
  Slot slot{calls_};
  uint64_t bytes = 0;
  bool too_big = false;
  Status s = PackReachable(*repos_, req->app(), wants, haves, [&](std::string_view data) {
    bytes += data.size();
    if (bytes > o_.limits.pack.max_pack_bytes) {
      too_big = true;
      return false;
    }
    v1::PackChunk c;
    c.set_data(std::string(data));
    return !ctx->IsCancelled() && writer->Write(c);
  });
  if (too_big)
    return Refuse("size", {grpc::StatusCode::RESOURCE_EXHAUSTED,
                           fmt::format("the pack exceeds {} bytes (--git-max-pack-size)", o_.limits.pack.max_pack_bytes)},
                  req->app());
  if (s.ok()) packs_served_.fetch_add(1);
  return rpc::ToGrpc(s);
}

std::string HubPeerService::MetricsText() const {
  PromText out;
  out.Counter("skyport_hub_git_replica_applied_total", "Pushes replicated to this hub (as a standby) and applied.",
              applied_.load());
  out.Family("skyport_hub_git_replica_refused_total", PromType::kCounter,
             "Replicated pushes this hub refused: leader (not from the leader it knows, or it leads), out_of_sync "
             "(it catches up), checks (a bound or fsck), other.");
  for (auto [cause, v] : {std::pair<const char*, uint64_t>{"leader", refused_leader_.load()},
                          {"out_of_sync", refused_sync_.load()}, {"checks", refused_checks_.load()},
                          {"other", refused_other_.load()}})
    out.Sample("skyport_hub_git_replica_refused_total", {{"cause", cause}}, v);
  out.Counter("skyport_hub_peer_unauthenticated_total", "HubPeer calls without the cluster token.",
              unauthenticated_.load());
  out.Counter("skyport_hub_peer_busy_total", "HubPeer calls refused: too many at once.", busy_.load());
  out.Counter("skyport_hub_peer_packs_served_total", "Catch-up packs this hub served to another.", packs_served_.load());
  return out.Take();
}

}  // namespace skyport::hub::peer
