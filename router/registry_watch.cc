#include "router/registry_watch.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <unordered_map>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/lease_keeper.h"
#include "core/log.h"
#include "core/version.h"
#include "rpc/call.h"
#include "rpc/failover.h"
#include "rpc/lease_shell.h"
#include "router/table_build.h"

namespace skyport::router {

RegistryWatch::RegistryWatch(std::shared_ptr<rpc::AddressPool> registries, std::string token, TableOptions options,
                             RouteHolder* holder, StatsStore* stats, ResolverPolicy resolver_policy)
    : registries_(std::move(registries)),
      token_(std::move(token)),
      options_(std::move(options)),
      holder_(holder),
      stats_(stats),
      apply_(options_.role),
      resolver_(resolver_policy, [this](std::vector<std::string> names) { OnNamesChanged(std::move(names)); }) {}

RegistryWatch::~RegistryWatch() { Stop(); }

void RegistryWatch::Start() {
  resolver_.Start();
  apply_thread_ = std::thread([this] { ApplyLoop(); });
  thread_ = std::thread([this] { Loop(); });
}

void RegistryWatch::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (active_) active_->TryCancel();
  }
  cv_.notify_all();
  space_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  resolver_.Stop();
}

WatchCounters RegistryWatch::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void RegistryWatch::Loop() {
  SystemRandom rng;
  // The stream waits for the registry while it is away (wait_for_peer), so
  // this backoff only spaces out streams the registry itself ends.
  const BackoffPolicy policy = kReconnectBackoff;
  int attempt = 0;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (RunStream()) attempt = 0;
    connected_ = false;
    std::unique_lock lock(mu_);
    if (stop_) return;
    ++reconnects_;
    cv_.wait_for(lock, std::chrono::milliseconds(BackoffDelayMs(policy, attempt++, rng.Uniform01())),
                 [this] { return stop_; });
  }
}

bool RegistryWatch::RunStream() {
  // One registry: the stream waits for it while it is away. A list: each in
  // turn (rpc/failover.h), an unreachable one passing at once to the next.
  const bool single = registries_->listed_count() == 1;
  rpc::FailoverWalk walk(*registries_, rpc::Retry::kSafe);
  grpc::Status st;
  while (auto address = walk.Next()) {
    auto channel = registries_->Channel(*address);
    if (!channel.ok()) {
      walk.Unreachable(*address, channel.status().message());
      continue;
    }
    grpc::ClientContext ctx;
    rpc::PrepareContext(ctx, token_, 0, /*wait_for_peer=*/single);
    {
      std::lock_guard lock(mu_);
      if (stop_) return false;
      active_ = &ctx;
    }
    const bool got_any = StreamFrom(*address, *channel, ctx, st);
    {
      std::lock_guard lock(mu_);
      active_ = nullptr;
      if (stop_) return got_any;
    }
    if (got_any) {
      if (st.error_code() == grpc::StatusCode::UNAVAILABLE) registries_->Failed(*address);
      log::Warn("registry watch ended; serving the last table",
                {{"registry", *address}, {"revision", resume_revision_}, {"code", static_cast<int>(st.error_code())},
                 {"error", st.error_message()}});
      return true;
    }
    if (!walk.Judge(*address, ctx, st)) break;
  }
  uint64_t held = 0;
  if (end_log_.Allow(SystemClock::Get()->MonoMs(), &held))
    log::Warn("registry watch ended; serving the last table",
              {{"registry", registries_->listed()}, {"revision", resume_revision_},
               {"code", static_cast<int>(st.error_code())}, {"error", st.error_message()},
               {"more_since_last_line", held}});
  return false;
}

bool RegistryWatch::StreamFrom(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                               grpc::ClientContext& ctx, grpc::Status& status) {
  // Revisions are one store's (one SQLite file, or one etcd cluster and
  // prefix): the request names the store they were counted in, and a
  // registry of another store answers with a snapshot (so does one whose
  // store changed behind the same address). A move to a registry of the same
  // store resumes; without a store id a move starts from a fresh snapshot.
  // The last table is served meanwhile.
  const bool moved = !source_.empty() && address != source_;
  v1::WatchRequest req;
  req.set_from_revision(moved && store_id_.empty() ? 0 : resume_revision_);
  req.set_store_id(store_id_);
  auto stub = v1::Registry::NewStub(channel);
  auto reader = stub->Watch(&ctx, req);
  Item item;
  bool got_any = false;
  while (reader->Read(&item.msg)) {
    if (!got_any) {
      got_any = true;
      connected_ = true;
      registries_->Answered(address);
      const bool same_store = !store_id_.empty() && item.msg.store_id() == store_id_;
      if (moved) {
        log::Info("registry watch moved to another registry",
                  {{"from", source_}, {"to", address}, {"same_store", same_store}, {"resumed", item.msg.resumed()}});
      }
      // Until this store's snapshot is whole, a new stream asks for one again.
      if (!same_store && !item.msg.resumed()) resume_revision_ = 0;
      source_ = address;
      store_id_ = item.msg.store_id();
      log::Info("registry watch", {{"registry", address}, {"from_revision", req.from_revision()},
                                   {"resumed", item.msg.resumed()}});
    }
    // Where a new stream would start: the end of the last complete message.
    if (item.msg.kind() != v1::WatchResponse::SNAPSHOT || !item.msg.more()) resume_revision_ = item.msg.revision();
    item.bytes = item.msg.ByteSizeLong();
    if (!Deliver(std::move(item))) break;
    item = Item{};
  }
  status = reader->Finish();
  // A snapshot this stream left half-read is dropped by the apply thread.
  Item end;
  end.end = true;
  (void)Deliver(std::move(end));
  return got_any;
}

bool RegistryWatch::Deliver(Item item) {
  std::unique_lock lock(mu_);
  if (!item.end) {
    if (inbox_bytes_ >= kMaxInboxBytes) {
      // The apply thread is behind by a whole inbox: stop reading until it
      // catches up (the registry holds the rest, or cuts the stream and the
      // watch resumes from its revision).
      ++counters_.inbox_full;
      space_cv_.wait(lock, [this] { return stop_ || inbox_bytes_ < kMaxInboxBytes; });
    }
    if (stop_) return false;
    counters_.received_revision = item.msg.revision();
  }
  inbox_bytes_ += item.bytes;
  inbox_.push_back(std::move(item));
  lock.unlock();
  cv_.notify_all();
  return true;
}

void RegistryWatch::OnNamesChanged(std::vector<std::string> names) {
  {
    std::lock_guard lock(mu_);
    for (auto& n : names) changed_names_.push_back(std::move(n));
  }
  cv_.notify_all();
}

void RegistryWatch::ApplyLoop() {
  std::vector<Item> items;
  std::vector<std::string> names;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !inbox_.empty() || !changed_names_.empty(); });
      if (stop_) return;
      // Coalescing: everything the stream delivered so far is one batch.
      items.swap(inbox_);
      names.swap(changed_names_);
      inbox_bytes_ = 0;
    }
    space_cv_.notify_all();
    ApplyBatch(items, names);
    items.clear();
    names.clear();
  }
}

void RegistryWatch::ApplyBatch(std::vector<Item>& items, std::vector<std::string>& names) {
  const auto t0 = std::chrono::steady_clock::now();
  for (Item& item : items) {
    if (item.end)
      apply_.OnStreamEnd();
    else
      apply_.OnMessage(item.msg);
  }
  RegistryMirror& mirror = apply_.mirror();
  // A name that resolved (or moved) rebuilds the apps that use it.
  std::set<std::string> extra;
  for (const std::string& n : names)
    if (const auto* apps = mirror.AppsUsingHost(n))
      for (const auto& [app, count] : *apps) extra.insert(app);
  // Names no endpoint uses leave the cache; when it had refused names for
  // want of room, the apps still waiting for an address try again.
  const std::vector<std::string> released = mirror.TakeReleasedHosts();
  resolver_.Release(released);
  if (!released.empty() && resolver_.counters().refused > 0)
    extra.insert(unresolved_apps_.begin(), unresolved_apps_.end());
  if (!apply_.ShouldPublish(!extra.empty())) {
    std::lock_guard lock(mu_);
    counters_.events_applied = apply_.events_applied();
    ++counters_.batches;
    return;
  }
  std::set<std::string> touched = mirror.TakeTouched();
  touched.insert(extra.begin(), extra.end());

  std::unordered_map<std::string, std::optional<std::string>> memo;  // one cache lookup per name per batch
  auto lookup = [this, &memo](const std::string& host) -> const std::string* {
    auto [at, fresh] = memo.try_emplace(host);
    if (fresh) at->second = resolver_.Lookup(host);
    return at->second ? &*at->second : nullptr;
  };
  StatsStore* stats = stats_;
  TableDelta delta = BuildTouched(mirror, touched, lookup, [stats](const std::string& app, const std::string& commit) {
    return stats->Intern(app, commit);
  });
  for (const auto& [app, route] : delta.rebuilt) {
    if (delta.unresolved.count(app))
      unresolved_apps_.insert(app);
    else
      unresolved_apps_.erase(app);
  }
  table_ = NextTable(table_.get(), delta.rebuilt, apply_.revision(), options_);
  holder_->Publish(table_);
  apply_.Published();
  revision_ = apply_.revision();
  ++tables_built_;

  const auto took_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard lock(mu_);
  counters_.events_applied = apply_.events_applied();
  counters_.publishes = tables_built_.load();
  ++counters_.batches;
  counters_.apps_rebuilt += delta.rebuilt.size();
  counters_.published_revision = apply_.revision();
  counters_.endpoints = mirror.endpoint_count();
  counters_.unresolved_apps = unresolved_apps_.size();
  ++counters_.apply_latency[LatencyBucket(static_cast<uint64_t>(took_us))];
  counters_.apply_latency_sum_s += static_cast<double>(took_us) / 1e6;
}

// ---------------------------------------------------------------- presence

RegistryPresence::RegistryPresence(std::shared_ptr<rpc::AddressPool> registries, std::string token, PresenceInfo info)
    : calls_(std::move(registries), std::move(token), 3000, /*revoke_timeout_ms=*/2000), info_(std::move(info)) {
  SystemRandom rng;
  commit_ = NewHexId(rng).substr(0, 12);
}

RegistryPresence::~RegistryPresence() { Stop(); }

void RegistryPresence::Start() { thread_ = std::thread([this] { Loop(); }); }

void RegistryPresence::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_ != 0) {
    (void)calls_.Revoke(lease_);
    lease_ = 0;
  }
}

v1::Endpoint RegistryPresence::Entry() const {
  v1::Endpoint ep;
  ep.set_app("skyport-router");
  ep.set_commit(commit_);
  ep.set_role("admin");
  ep.set_host(info_.host);
  ep.set_port(info_.admin_port);
  ep.set_pid(static_cast<int64_t>(::getpid()));
  (*ep.mutable_meta())["name"] = info_.name;
  (*ep.mutable_meta())["listen"] = info_.listen;
  (*ep.mutable_meta())["version"] = VersionLine("router");  // `skyport status`
  return ep;
}

void RegistryPresence::Loop() {
  SystemRandom rng;
  // The calls wait for the registry while it is away (wait_for_peer), so the
  // keeper's backoff only spaces out refusals.
  rpc::LeaseShell shell(&calls_, &rng, info_.ttl_s, LeaseTimingFor(info_.ttl_s, kReconnectBackoff));
  const v1::Endpoint entry = Entry();
  uint64_t id = 0;  // the entry's id under the current lease
  for (;;) {
    const int64_t now = SystemClock::Get()->MonoMs();
    const rpc::LeaseTurn turn = shell.Step(now, registered_ ? nullptr : &entry);
    if (turn.step == LeaseStep::kRegister && turn.outcome == LeaseOutcome::kOk) {
      registered_ = true;
      id = turn.entry_id;
      log::Info("registered in the registry", {{"app", "skyport-router"}, {"commit", commit_}, {"admin_port", info_.admin_port}});
    } else if (turn.step == LeaseStep::kAudit && turn.outcome == LeaseOutcome::kOk && registered_ &&
               !AuditEntries({id}, turn.held).missing.empty()) {
      // A store restored from a backup kept the lease but not the entry.
      log::Warn("the registry lost this router's entry; registering again", {{"id", id}, {"lease", turn.lease}});
      registered_ = false;
    } else if ((turn.step == LeaseStep::kGrant || turn.step == LeaseStep::kRegister) && !turn.status.ok()) {
      log::Warn("cannot register in the registry", {{"error", turn.status.message()}});
    }
    // Expired (the registry was away too long): register again at once.
    if (turn.outcome == LeaseOutcome::kLost) registered_ = false;
    const int64_t wait_ms = shell.keeper().WakeAt(now, !registered_) - now;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0)), [this] { return stop_; })) {
      lease_ = shell.lease();
      return;
    }
  }
}

}  // namespace skyport::router
