#include "router/registry_watch.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/lease_keeper.h"
#include "core/log.h"
#include "rpc/call.h"
#include "rpc/failover.h"
#include "rpc/lease_shell.h"

namespace skyport::router {

RegistryWatch::RegistryWatch(std::shared_ptr<rpc::AddressPool> registries, std::string token, TableOptions options,
                             RouteHolder* holder, StatsStore* stats)
    : registries_(std::move(registries)),
      token_(std::move(token)),
      options_(std::move(options)),
      holder_(holder),
      stats_(stats) {}

RegistryWatch::~RegistryWatch() { Stop(); }

void RegistryWatch::Start() { thread_ = std::thread([this] { Loop(); }); }

void RegistryWatch::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (active_) active_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
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
                {{"registry", *address}, {"revision", local_revision_}, {"code", static_cast<int>(st.error_code())},
                 {"error", st.error_message()}});
      return true;
    }
    if (!walk.Judge(*address, ctx, st)) break;
  }
  uint64_t held = 0;
  if (end_log_.Allow(SystemClock::Get()->MonoMs(), &held))
    log::Warn("registry watch ended; serving the last table",
              {{"registry", registries_->listed()}, {"revision", local_revision_},
               {"code", static_cast<int>(st.error_code())}, {"error", st.error_message()},
               {"more_since_last_line", held}});
  return false;
}

bool RegistryWatch::StreamFrom(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                               grpc::ClientContext& ctx, grpc::Status& status) {
  // Revisions are one registry's (or one etcd cluster's): the registries of
  // a list are not known to share them (independent stores do not), so a
  // move to another address starts from a fresh snapshot, never from a
  // revision it may count differently. The last table is served meanwhile.
  const bool moved = !source_.empty() && address != source_;
  v1::WatchRequest req;
  req.set_from_revision(moved ? 0 : local_revision_);
  auto stub = v1::Registry::NewStub(channel);
  auto reader = stub->Watch(&ctx, req);
  v1::WatchResponse msg;
  bool got_any = false;
  bool in_snapshot = false;
  while (reader->Read(&msg)) {
    if (!got_any) {
      got_any = true;
      connected_ = true;
      registries_->Answered(address);
      if (moved) log::Info("registry watch moved to another registry", {{"from", source_}, {"to", address}});
      source_ = address;
      log::Info("registry watch", {{"registry", address}, {"from_revision", req.from_revision()},
                                   {"resumed", msg.resumed()}});
    }
    if (msg.kind() == v1::WatchResponse::SNAPSHOT) {
      if (!in_snapshot) {
        endpoints_.clear();
        routes_.clear();
        in_snapshot = true;
      }
      for (auto& ep : *msg.mutable_endpoints()) endpoints_[ep.id()] = std::move(ep);
      for (auto& r : *msg.mutable_routes()) routes_[r.app()] = std::move(r);
      if (msg.more()) continue;
      in_snapshot = false;
    } else {
      for (auto& ev : *msg.mutable_events()) {
        switch (ev.type()) {
          case v1::Event::ENDPOINT_PUT:
            endpoints_[ev.endpoint().id()] = std::move(*ev.mutable_endpoint());
            break;
          case v1::Event::ENDPOINT_DELETE:
            endpoints_.erase(ev.endpoint().id());
            break;
          case v1::Event::ROUTE_PUT:
            routes_[ev.route().app()] = std::move(*ev.mutable_route());
            break;
          case v1::Event::ROUTE_DELETE:
            routes_.erase(ev.route().app());
            break;
          default:
            break;
        }
      }
    }
    local_revision_ = msg.revision();
    Publish();
  }
  status = reader->Finish();
  return got_any;
}

void RegistryWatch::Publish() {
  std::vector<v1::Endpoint> eps;
  eps.reserve(endpoints_.size());
  for (const auto& [id, ep] : endpoints_) eps.push_back(ep);
  std::vector<v1::RouteConfig> routes;
  routes.reserve(routes_.size());
  for (const auto& [app, r] : routes_) routes.push_back(r);
  StatsStore* stats = stats_;
  auto table = BuildFromRegistry(eps, routes, local_revision_, options_,
                                 [stats](const std::string& app, const std::string& commit) {
                                   return stats->Intern(app, commit);
                                 });
  holder_->Publish(std::move(table));
  revision_ = local_revision_;
  ++tables_built_;
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
  return ep;
}

void RegistryPresence::Loop() {
  SystemRandom rng;
  // The calls wait for the registry while it is away (wait_for_peer), so the
  // keeper's backoff only spaces out refusals.
  rpc::LeaseShell shell(&calls_, &rng, info_.ttl_s, LeaseTimingFor(info_.ttl_s, kReconnectBackoff));
  const v1::Endpoint entry = Entry();
  for (;;) {
    const int64_t now = SystemClock::Get()->MonoMs();
    const rpc::LeaseTurn turn = shell.Step(now, registered_ ? nullptr : &entry);
    if (turn.step == LeaseStep::kRegister && turn.outcome == LeaseOutcome::kOk) {
      registered_ = true;
      log::Info("registered in the registry", {{"app", "skyport-router"}, {"commit", commit_}, {"admin_port", info_.admin_port}});
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
