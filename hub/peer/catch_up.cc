#include "hub/peer/catch_up.h"

#include <fmt/format.h>

#include <chrono>

#include "core/clock.h"
#include "core/log.h"
#include "core/names.h"
#include "core/prom_text.h"
#include "hub/git/git_util.h"
#include "hub/peer/replica_apply.h"
#include "rpc/auth.h"

namespace skyport::hub::peer {
namespace {

constexpr size_t kMaxHaves = 1000;
constexpr int kMaxRounds = 8;  // of max_refs refs each, per sync
constexpr int64_t kWakeMs = 250;  // looks for a new leader this often

void Deadline(grpc::ClientContext& ctx, int64_t ms) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

// The peer's refs, checked: app names, 40-hex ids (ref names are checked when applied).
Result<RepoRefs> ToRepoRefs(const v1::RefsResponse& res) {
  RepoRefs out;
  for (const auto& a : res.apps()) {
    if (Status s = ValidateName("app", a.app()); !s.ok()) return s;
    auto& refs = out[a.app()];
    for (const auto& r : a.refs()) {
      if (r.id().size() != 40 || !IsHex(r.id())) return Status::InvalidArgument("peer ref " + r.name() + ": bad id");
      refs[r.name()] = r.id();
    }
  }
  return out;
}

// The wants this hub does not hold already.
std::vector<std::string> Missing(RepoStore* repos, const std::string& app, const std::vector<std::string>& wants) {
  auto repo = OpenBare(repos->RepoPath(app));
  if (!repo.ok()) return wants;
  git_odb* raw = nullptr;
  if (git_repository_odb(&raw, repo->get()) != 0) return wants;
  GitPtr<git_odb> odb(raw);
  std::vector<std::string> out;
  for (const std::string& w : wants) {
    git_oid oid;
    if (!ParseOid(w, &oid) || git_odb_exists(odb.get(), &oid) != 1) out.push_back(w);
  }
  return out;
}

}  // namespace

// Registers a call so that stopping cancels it; a call made while stopping is cancelled at once.
class CallGuard {
 public:
  CallGuard(CatchUp* c, grpc::ClientContext* ctx) : c_(c), ctx_(ctx) {
    std::lock_guard lock(c_->mu_);
    c_->calls_.insert(ctx_);
    if (c_->stop_) ctx_->TryCancel();
  }
  ~CallGuard() {
    std::lock_guard lock(c_->mu_);
    c_->calls_.erase(ctx_);
  }

 private:
  CatchUp* c_;
  grpc::ClientContext* ctx_;
};

CatchUp::CatchUp(RepoStore* repos, CatchUpOptions o) : repos_(repos), o_(std::move(o)), stubs_(o_.tls) {}

CatchUp::~CatchUp() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void CatchUp::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (grpc::ClientContext* c : calls_) c->TryCancel();
  }
  cv_.notify_all();
}

void CatchUp::Run(std::function<bool()> leading, std::function<std::optional<ha::LeaderRecord>()> leader,
                  std::string self) {
  leading_ = std::move(leading);
  leader_ = std::move(leader);
  self_ = std::move(self);
  thread_ = std::thread([this] { Loop(); });
}

void CatchUp::Trigger(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (triggered_) return;
    triggered_ = true;
  }
  log::Info("git catch-up requested", {{"why", why}});
  cv_.notify_all();
}

void CatchUp::Loop() {
  std::string synced_with;  // the leader member of the last successful sync
  int64_t next_ms = 0;
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(kWakeMs), [this] { return stop_ || triggered_; });
    if (stop_) break;
    const bool triggered = triggered_;
    lock.unlock();
    auto leader = leader_();
    const int64_t now = SystemClock::Get()->MonoMs();
    const bool due = triggered || now >= next_ms || (leader && leader->member != synced_with);
    if (due && leader && leader->member != self_ && !leading_()) {
      auto moved = SyncFrom(leader->grpc, SyncMode::kMirror, std::min<int64_t>(o_.timeout_ms, 5000));
      if (moved.ok()) {
        synced_with = leader->member;
        next_ms = now + o_.interval_ms;
      } else {
        next_ms = now + std::min<int64_t>(o_.interval_ms, 1000);  // a failed sync is retried soon
      }
      lock.lock();
      triggered_ = false;
      continue;
    }
    lock.lock();
    if (triggered && (!leader || leading_())) triggered_ = false;
  }
}

size_t CatchUp::UnionFrom(const std::vector<ha::LeaderRecord>& hubs, const std::string& self) {
  size_t moved = 0;
  for (const auto& h : hubs) {
    if (h.member == self) continue;
    auto r = SyncFrom(h.grpc, SyncMode::kUnion, kTakeoverRefsMs);
    if (r.ok()) moved += *r;
    else log::Warn("takeover: could not compare repositories with a hub", {{"hub", h.grpc}, {"error", r.status().message()}});
  }
  return moved;
}

Result<size_t> CatchUp::SyncFrom(const std::string& address, SyncMode mode, int64_t refs_timeout_ms) {
  auto stub = stubs_.Get(address);
  if (!stub.ok()) return stub.status();
  const char* kind = mode == SyncMode::kMirror ? "mirror" : "union";
  size_t moved = 0;
  for (int round = 0; round < kMaxRounds; ++round) {
    grpc::ClientContext ctx;
    Deadline(ctx, refs_timeout_ms);
    rpc::AttachToken(ctx, o_.token);
    CallGuard guard(this, &ctx);
    v1::RefsResponse res;
    grpc::Status s = (*stub)->Refs(&ctx, v1::RefsRequest(), &res);
    if (!s.ok()) {
      failed_.fetch_add(1);
      return Status::Unavailable(fmt::format("Refs from {}: {}", address, s.error_message()));
    }
    auto theirs = ToRepoRefs(res);
    if (!theirs.ok()) {
      failed_.fetch_add(1);
      return theirs.status();
    }
    auto ours = ReadAllRefs(repos_);
    if (!ours.ok()) {
      failed_.fetch_add(1);
      return ours.status();
    }
    auto plan = PlanSync(*ours, *theirs, mode, o_.limits.max_refs, kMaxHaves);
    if (plan.empty()) break;
    bool more = false;
    size_t moved_round = 0;
    for (const AppSync& app : plan) {
      auto r = SyncApp(**stub, app, mode);
      if (!r.ok()) {
        failed_.fetch_add(1);
        log::Warn("git catch-up: an app did not sync", {{"from", address}, {"mode", kind}, {"app", app.app},
                                                        {"error", r.status().message()}});
        continue;
      }
      moved_round += *r;
      more |= app.truncated;
    }
    moved += moved_round;
    // A union never deletes and leaves non-fast-forwards: a second round would find the same.
    if (!more || moved_round == 0) break;
    if (round + 1 == kMaxRounds)
      log::Warn("git catch-up: more refs differ than one sync takes; the rest follow in the next",
                {{"from", address}, {"rounds", kMaxRounds}, {"refs_per_round", o_.limits.max_refs}});
  }
  ok_.fetch_add(1);
  refs_.fetch_add(moved);
  if (moved > 0) log::Info("git catch-up", {{"from", address}, {"mode", kind}, {"refs", static_cast<uint64_t>(moved)}});
  return moved;
}

Result<size_t> CatchUp::SyncApp(v1::HubPeer::Stub& stub, const AppSync& plan, SyncMode mode) {
  std::vector<PushCommand> commands = plan.commands;
  ReplicaApply apply(repos_, plan.app, std::move(commands), o_.limits, /*force=*/mode == SyncMode::kMirror);
  std::vector<std::string> wants = Missing(repos_, plan.app, plan.wants);
  if (!wants.empty()) {
    grpc::ClientContext ctx;
    // As long as the largest pack a push may carry could take (the leader's clock of a push's copies).
    Deadline(ctx, ReplicationBudgetMs(o_.timeout_ms, o_.limits.pack.max_pack_bytes));
    rpc::AttachToken(ctx, o_.token);
    CallGuard guard(this, &ctx);
    v1::FetchPackRequest req;
    req.set_app(plan.app);
    for (const auto& w : wants) req.add_wants(w);
    for (const auto& h : plan.haves) req.add_haves(h);
    auto reader = stub.FetchPack(&ctx, req);
    v1::PackChunk chunk;
    uint64_t bytes = 0;
    while (reader->Read(&chunk)) {
      bytes += chunk.data().size();
      if (bytes > o_.limits.pack.max_pack_bytes) {
        ctx.TryCancel();
        reader->Finish();
        return Status::ResourceExhausted(fmt::format("the peer's pack exceeds {} bytes", o_.limits.pack.max_pack_bytes));
      }
      apply.Feed(chunk.data());
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) return Status::Unavailable("FetchPack: " + s.error_message());
  }
  ReplicaResult r = apply.Finish();
  // A union leaves refs where this hub is ahead or diverged (non-fast-forward): not an error.
  if (!r.status.ok() && mode == SyncMode::kMirror) return r.status;
  return r.applied;
}

std::string CatchUp::MetricsText() const {
  PromText out;
  out.Family("skyport_hub_git_catch_up_total", PromType::kCounter,
             "Syncs of this hub's repositories with another hub's (a standby with the leader, a new leader with "
             "the others), by result.");
  out.Sample("skyport_hub_git_catch_up_total", {{"result", "ok"}}, ok_.load());
  out.Sample("skyport_hub_git_catch_up_total", {{"result", "failed"}}, failed_.load());
  out.Counter("skyport_hub_git_catch_up_refs_total", "Refs moved by catch-up syncs.", refs_.load());
  return out.Take();
}

}  // namespace skyport::hub::peer
