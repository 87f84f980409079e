#include "drone/registry_link.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/lease_keeper.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "drone/metrics.h"
#include "drone/registration.h"
#include "rpc/call.h"
#include "rpc/convert.h"
#include "rpc/failover.h"
#include "rpc/lease_shell.h"

namespace skyport::drone {

RegistryLink::RegistryLink(std::shared_ptr<rpc::AddressPool> registries, std::string token, uint32_t ttl_s)
    : registries_(registries), token_(token), ttl_s_(ttl_s), calls_(std::move(registries), std::move(token)) {}

RegistryLink::~RegistryLink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

grpc::Status RegistryLink::Call(rpc::Retry retry,
                                std::function<grpc::Status(v1::Registry::Stub&, grpc::ClientContext&)> fn,
                                int64_t timeout_ms) const {
  auto answer = rpc::CallWithFailover(*registries_, token_, {timeout_ms, /*wait_for_peer=*/true, retry},
                                      [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
                                        auto stub = v1::Registry::NewStub(ch);
                                        return fn(*stub, ctx);
                                      });
  return rpc::ToGrpc(answer.status);
}

int64_t RegistryLink::Start(uint64_t stale_lease) {
  int64_t removed = 0;
  if (stale_lease != 0) {
    auto revoked = calls_.Revoke(stale_lease);
    removed = revoked.ok() ? static_cast<int64_t>(*revoked) : 0;
    log::Info("revoked the previous run's lease", {{"lease", stale_lease}, {"ok", revoked.ok()}, {"removed", removed}});
  }
  thread_ = std::thread([this] { Loop(); });
  return removed;
}

void RegistryLink::Shutdown() {
  uint64_t lease;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    lease = lease_;
    lease_ = 0;
    wants_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease != 0) (void)calls_.Revoke(lease);
}

Result<uint32_t> RegistryLink::Allocate(const std::string& host, const InstanceKey& key, int64_t timeout_ms,
                                        const std::vector<uint32_t>& avoid) {
  const int64_t deadline = SystemClock::Get()->MonoMs() + timeout_ms;
  uint64_t lease = 0;
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return lease_ != 0 || stop_; });
    lease = lease_;
  }
  if (lease == 0) return Status::Unavailable("registry: no lease (is skyport-registry reachable?)");
  v1::AllocateRequest req;
  req.set_host(host);
  req.set_app(key.app);
  req.set_commit(key.commit);
  req.set_role(key.role);
  req.set_instance(key.instance);
  req.set_lease_id(lease);
  for (uint32_t p : avoid) req.add_avoid(p);
  v1::AllocateResponse resp;
  auto s = Call(rpc::Retry::kIfUnsent,
                [&](v1::Registry::Stub& stub, grpc::ClientContext& c) { return stub.Allocate(&c, req, &resp); },
                std::max<int64_t>(500, deadline - SystemClock::Get()->MonoMs()));
  if (!s.ok()) return Status(static_cast<Code>(s.error_code()), "registry: allocate: " + s.error_message());
  return resp.port();
}

void RegistryLink::WantRegistered(const InstanceKey& key, v1::Endpoint ep) {
  {
    std::lock_guard lock(mu_);
    Want& w = wants_[key];
    if (ReplacedEntryToRemove(w.ep, w.id, ep)) {
      deregister_.push_back(w.id);  // moved to another port: the old entry goes
      ++queued_gen_;
      w.id = 0;
    }
    // Same host:port: the entry keeps its id (a stop before the new content lands removes it).
    w.ep = std::move(ep);
    w.gen = ++want_gen_;
  }
  cv_.notify_all();
}

uint64_t RegistryLink::QueueDeregisterLocked(const InstanceKey& key) {
  auto it = wants_.find(key);
  if (it == wants_.end()) return 0;
  const uint64_t id = it->second.id;
  wants_.erase(it);
  if (id == 0) return 0;
  deregister_.push_back(id);
  return ++queued_gen_;
}

void RegistryLink::Deregister(const InstanceKey& key) {
  {
    std::lock_guard lock(mu_);
    if (QueueDeregisterLocked(key) == 0) return;
  }
  cv_.notify_all();
}

bool RegistryLink::DeregisterAndWait(const InstanceKey& key, int64_t timeout_ms) {
  std::unique_lock lock(mu_);
  const uint64_t gen = QueueDeregisterLocked(key);
  if (gen == 0) return true;  // never registered under this lease: nothing to wait for
  cv_.notify_all();
  return cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)),
                      [&] { return stop_ || lease_ == 0 || acked_gen_ >= gen; });
}

void RegistryLink::ReleasePort(const std::string& host, uint32_t port) {
  if (port == 0) return;
  {
    std::lock_guard lock(mu_);
    release_.emplace_back(host, port);
  }
  cv_.notify_all();
}

bool RegistryLink::FlushQueued(uint64_t lease) {
  std::vector<uint64_t> ids;
  std::vector<std::pair<std::string, uint32_t>> ports;
  uint64_t gen;
  {
    std::lock_guard lock(mu_);
    ids.swap(deregister_);
    ports.swap(release_);
    gen = queued_gen_;
  }
  auto retry = [](const grpc::Status& s) { return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                                                  s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED; };
  std::vector<uint64_t> ids_left;
  std::vector<std::pair<std::string, uint32_t>> ports_left;
  bool away = false;  // once a call found the registry away, the rest wait for the next round
  for (uint64_t id : ids) {
    if (away) {
      ids_left.push_back(id);
      continue;
    }
    v1::DeregisterRequest req;
    req.set_id(id);
    v1::DeregisterResponse resp;
    auto s = Call(rpc::Retry::kSafe,
                  [&](v1::Registry::Stub& stub, grpc::ClientContext& c) { return stub.Deregister(&c, req, &resp); });
    if (retry(s)) {
      ids_left.push_back(id);
      away = true;
    }
    else if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND)
      log::Warn("deregister failed; the entry goes with the lease", {{"id", id}, {"error", s.error_message()}});
  }
  for (const auto& [host, port] : ports) {
    if (lease == 0) break;  // a lost lease took its ports with it
    if (away) {
      ports_left.emplace_back(host, port);
      continue;
    }
    v1::ReleasePortRequest req;
    req.set_host(host);
    req.set_port(port);
    req.set_lease_id(lease);
    v1::ReleasePortResponse resp;
    auto s = Call(rpc::Retry::kSafe,
                  [&](v1::Registry::Stub& stub, grpc::ClientContext& c) { return stub.ReleasePort(&c, req, &resp); });
    if (retry(s)) {
      ports_left.emplace_back(host, port);
      away = true;
    }
  }
  std::lock_guard lock(mu_);
  if (ids_left.empty()) {
    acked_gen_ = std::max(acked_gen_, gen);
    cv_.notify_all();
  }
  if (ids_left.empty() && ports_left.empty()) return true;
  deregister_.insert(deregister_.end(), ids_left.begin(), ids_left.end());
  release_.insert(release_.end(), ports_left.begin(), ports_left.end());
  return false;
}

bool RegistryLink::IsRegistered(const InstanceKey& key) const {
  std::lock_guard lock(mu_);
  auto it = wants_.find(key);
  return it != wants_.end() && it->second.id != 0 && !it->second.Pending();
}

bool RegistryLink::IsWanted(const InstanceKey& key) const {
  std::lock_guard lock(mu_);
  return wants_.count(key) != 0;
}

uint64_t RegistryLink::lease() const {
  std::lock_guard lock(mu_);
  return lease_;
}

void RegistryLink::LoseLease() {
  std::lock_guard lock(mu_);
  lease_ = 0;
  cv_.notify_all();  // the entries went with the lease: nobody waits for their removal
}

void RegistryLink::Registered(const InstanceKey& key, const v1::Endpoint& sent, uint64_t gen, uint64_t lease,
                              uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = wants_.find(key);
  const bool wanted = it != wants_.end();
  const RegisterAnswer use = UseRegisterAnswer(sent, gen, lease, wanted ? &it->second.ep : nullptr,
                                               wanted ? it->second.gen : 0, lease_);
  if (use.keep_id) it->second.id = id;
  if (use.current) it->second.registered_gen = gen;  // the registry holds what this call sent
  if (use.deregister) deregister_.push_back(id);
}

void RegistryLink::Audited(uint64_t lease, const std::vector<v1::Endpoint>& held) {
  std::vector<uint64_t> mine, held_ids;
  std::map<uint64_t, const v1::Endpoint*> by_id;
  for (const v1::Endpoint& ep : held) {
    held_ids.push_back(ep.id());
    by_id[ep.id()] = &ep;
  }
  size_t again = 0, stray = 0, stale = 0;
  {
    std::lock_guard lock(mu_);
    if (lease != lease_) return;  // a new lease since: its entries are registered afresh
    for (const auto& [k, w] : wants_)
      if (w.id != 0) mine.push_back(w.id);
    mine.insert(mine.end(), deregister_.begin(), deregister_.end());  // already on their way out
    EntryAudit a = AuditEntries(mine, held_ids);
    const std::set<uint64_t> missing(a.missing.begin(), a.missing.end());
    for (auto& [k, w] : wants_) {
      if (w.id == 0) continue;
      if (missing.count(w.id) != 0) {
        w.id = w.registered_gen = 0;  // register it again
        ++again;
      } else if (auto it = by_id.find(w.id);
                 !w.Pending() && it != by_id.end() && !HoldsRegistered(*it->second, w.ep)) {
        w.registered_gen = 0;  // the same entry with older content: registered again over it
        ++stale;
      }
    }
    for (uint64_t id : a.unknown) deregister_.push_back(id);
    stray = a.unknown.size();
    if (stray > 0) ++queued_gen_;
  }
  if (again + stray + stale == 0) return;
  metrics::CountAuditRepairs(again, stray, stale);
  log::Warn("the registry's entries under this drone's lease differ from its instances (a restored store?); "
            "registering the missing and outdated ones again and removing the others",
            {{"lease", lease}, {"missing", again}, {"not_ours", stray}, {"outdated", stale}});
  cv_.notify_all();
}

void RegistryLink::Loop() {
  SystemRandom random;
  LogLimiter register_log;
  // The calls themselves wait for the registry (wait_for_peer): the keeper's
  // backoff only spaces out what the registry refuses.
  rpc::LeaseShell shell(&calls_, &random, ttl_s_, LeaseTimingFor(ttl_s_, kReconnectBackoff));
  const int64_t interval = shell.keeper().interval_ms();
  struct Pending {
    InstanceKey key;
    v1::Endpoint ep;
    uint64_t gen;
  };
  for (;;) {
    uint64_t lease;
    std::optional<Pending> pending;  // one want not registered under the lease: one Register per turn
    {
      std::unique_lock lock(mu_);
      auto unregistered = [&] {
        if (lease_ == 0) return false;
        for (const auto& [k, w] : wants_)
          if (w.Pending()) return true;
        return false;
      };
      const int64_t now = SystemClock::Get()->MonoMs();
      const int64_t wait = shell.keeper().WakeAt(now, unregistered()) - now;
      cv_.wait_for(lock, std::chrono::milliseconds(std::clamp<int64_t>(wait, 0, interval)), [&] {
        if (stop_) return true;
        if (shell.keeper().BackingOff(SystemClock::Get()->MonoMs())) return false;
        if (!deregister_.empty() || !release_.empty()) return true;
        return unregistered();
      });
      if (stop_) return;
      lease = lease_;
      if (lease != 0)
        for (const auto& [k, w] : wants_)
          if (w.Pending()) {
            pending = Pending{k, w.ep, w.gen};
            break;
          }
    }
    if (shell.keeper().BackingOff(SystemClock::Get()->MonoMs())) continue;
    // Removals first: a crashed instance must leave the registry at once.
    if (!FlushQueued(lease)) {
      shell.Failed(SystemClock::Get()->MonoMs());
      continue;
    }
    const rpc::LeaseTurn turn = shell.Step(SystemClock::Get()->MonoMs(), pending ? &pending->ep : nullptr);
    switch (turn.step) {
      case LeaseStep::kWait:
        break;
      case LeaseStep::kGrant:
        if (turn.outcome != LeaseOutcome::kOk) {
          if (turn.failures_before == 0) log::Warn("registry unreachable; retrying", {{"error", turn.status.message()}});
          break;
        }
        {
          std::lock_guard lock(mu_);
          lease_ = turn.lease;
          for (auto& [k, w] : wants_) w.id = w.registered_gen = 0;  // all registered again under the new lease
        }
        cv_.notify_all();
        log::Info("registry lease granted", {{"lease", turn.lease}, {"ttl_s", ttl_s_}});
        break;
      case LeaseStep::kKeepAlive:
        if (turn.outcome == LeaseOutcome::kLost) {
          log::Warn("registry lease lost; registering again", {{"lease", turn.lease}});
          LoseLease();
        }
        break;
      case LeaseStep::kRegister:
        if (turn.outcome == LeaseOutcome::kOk) {
          Registered(pending->key, pending->ep, pending->gen, turn.lease, turn.entry_id);
          break;
        }
        // A refusal that lasts (after a restore: the port is back with another holder's lease until that
        // lease ends) is retried every few hundred ms: one line per interval, saying how many were held back.
        if (uint64_t held = 0; register_log.Allow(SystemClock::Get()->MonoMs(), &held))
          log::Warn("register failed; retrying", {{"instance", pending->key.ToString()},
                                                  {"error", turn.status.message()}, {"more_since_last_line", held}});
        if (turn.outcome == LeaseOutcome::kLost) LoseLease();
        break;
      case LeaseStep::kAudit:
        if (turn.outcome == LeaseOutcome::kOk) Audited(turn.lease, turn.entries);
        else if (turn.outcome == LeaseOutcome::kLost) {
          log::Warn("registry lease lost; registering again", {{"lease", turn.lease}});
          LoseLease();
        } else {
          // One line per audit interval at most: an audit that keeps failing (an entry etcd cannot
          // decode, an answer over the message limit) would otherwise leave a restored store unrepaired unseen.
          metrics::CountAuditFailed();
          log::Warn("registry audit failed; trying again at the next one",
                    {{"lease", turn.lease}, {"error", turn.status.message()}});
        }
        break;
    }
  }
}

}  // namespace skyport::drone
