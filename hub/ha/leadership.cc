#include "hub/ha/leadership.h"

#include <chrono>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/prom_text.h"

namespace skyport::hub::ha {
namespace {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kLeader: return "leader";
    case Role::kDeposed: return "deposed";
    default: return "standby";
  }
}

}  // namespace

std::unique_ptr<Leadership> Leadership::Start(std::shared_ptr<etcd::Client> client, LeadershipOptions o) {
  auto l = std::unique_ptr<Leadership>(new Leadership(std::move(client), std::move(o)));
  l->loop_ = std::thread([p = l.get()] { p->Loop(); });
  return l;
}

Leadership::Leadership(std::shared_ptr<etcd::Client> client, LeadershipOptions o)
    : client_(std::move(client)), o_(std::move(o)), election_(o_.timings, o_.me) {}

Leadership::~Leadership() { Stop(); }

void Leadership::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    took_over_ = false;
  }
  cv_.notify_all();
  loop_.join();
  watch_.reset();
  if (takeover_thread_.joinable()) takeover_thread_.join();
  int64_t lease;
  {
    std::lock_guard lock(mu_);
    lease = election_.lease_id();
  }
  if (lease != 0) {
    etcdserverpb::LeaseRevokeRequest r;
    r.set_id(lease);
    auto s = client_->LeaseRevokeSync(r);
    log::Info("hub lease revoked", {{"ok", s.ok()}, {"error", s.ok() ? "" : s.status().message()}});
  }
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return outstanding_ == 0; });
}

int64_t Leadership::Now() const { return SystemClock::Get()->MonoMs(); }

bool Leadership::Leading() const {
  std::lock_guard lock(mu_);
  return took_over_ && election_.Leading(Now());
}

bool Leadership::Elected() const {
  std::lock_guard lock(mu_);
  return election_.Leading(Now());
}

std::string Leadership::LeaderGrpc() const {
  std::lock_guard lock(mu_);
  return election_.leader() ? election_.leader()->grpc : "";
}

std::string Leadership::LeaderGit() const {
  std::lock_guard lock(mu_);
  return election_.leader() ? election_.leader()->git : "";
}

void Leadership::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (watch_lost_) {
      watch_lost_ = false;
      watch_from_ = 0;
      election_.WatchLost();
      lock.unlock();
      watch_.reset();
      lock.lock();
      continue;
    }
    if (!watch_ && watch_from_ > 0) {
      etcd::WatchSpec spec;
      spec.key = Key("leader");
      spec.start_revision = watch_from_;
      lock.unlock();
      auto w = etcd::StartWatch(client_, spec, [this](etcd::WatchUpdate u) { OnWatch(std::move(u)); });
      lock.lock();
      watch_ = std::move(w);
      continue;
    }
    int64_t now = Now();
    if (const int64_t lease = election_.lease_id();
        lease != 0 && lease != member_lease_ && !member_put_out_ && now >= member_retry_at_) {
      member_put_out_ = true;
      ++outstanding_;
      lock.unlock();
      PutMember(lease);
      lock.lock();
      continue;
    }
    Election::Next next = election_.Step(now);
    AfterChangeLocked(now);
    if (next.action != Action::kNone) {
      // The call is made without the lock: a client may report some failures on this thread.
      const int64_t lease = election_.lease_id();
      ++outstanding_;
      lock.unlock();
      Issue(next.action, now, lease);
      lock.lock();
      continue;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(std::clamp<int64_t>(next.wake_ms - now, 1, 1000)));
  }
}

void Leadership::CallDone() {
  --outstanding_;
  cv_.notify_all();
}

void Leadership::Issue(Action a, int64_t sent, int64_t lease) {
  if (a == Action::kGrantLease) {
    etcdserverpb::LeaseGrantRequest r;
    r.set_ttl((o_.timings.ttl_ms + 999) / 1000);
    client_->LeaseGrant(r, [this, sent](Result<etcdserverpb::LeaseGrantResponse> res) {
      std::lock_guard lock(mu_);
      uint64_t suppressed = 0;
      if (res.ok() && res->id() != 0) {
        election_.LeaseGranted(sent, res->id(), res->ttl() * 1000);
      } else {
        election_.LeaseFailed(Now());
        if (quiet_grant_.Allow(Now(), &suppressed))
          log::Warn("hub election: lease grant failed", {{"error", res.ok() ? "no lease id" : res.status().message()}, {"suppressed", suppressed}});
      }
      CallDone();
    });
  } else if (a == Action::kKeepAlive) {
    const int64_t id = lease;
    client_->LeaseKeepAlive(id, [this, id, sent](Result<etcdserverpb::LeaseKeepAliveResponse> res) {
      std::lock_guard lock(mu_);
      uint64_t suppressed = 0;
      election_.KeepAliveDone(id, sent, Now(), res.ok() ? Code::kOk : res.status().code());
      if (!res.ok() && quiet_keepalive_.Allow(Now(), &suppressed))
        log::Warn("hub election: lease keep-alive failed", {{"lease", id}, {"error", res.status().message()}, {"suppressed", suppressed}});
      CallDone();
    });
  } else {
    etcdserverpb::TxnRequest txn;
    auto* c = txn.add_compare();
    c->set_key(Key("leader"));
    c->set_target(etcdserverpb::Compare::CREATE);
    c->set_result(etcdserverpb::Compare::EQUAL);
    c->set_create_revision(0);
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(Key("leader"));
    put->set_value(o_.me.ToJson());
    put->set_lease(lease);
    txn.add_failure()->mutable_request_range()->set_key(Key("leader"));
    client_->Txn(std::move(txn), [this](Result<etcdserverpb::TxnResponse> res) {
      std::lock_guard lock(mu_);
      uint64_t suppressed = 0;
      if (!res.ok()) {
        election_.CampaignFailed(Now());
        if (quiet_campaign_.Allow(Now(), &suppressed))
          log::Warn("hub election: campaign failed", {{"error", res.status().message()}, {"suppressed", suppressed}});
      } else {
        CampaignOutcome o;
        o.revision = res->header().revision();
        o.succeeded = res->succeeded();
        if (!o.succeeded && res->responses_size() == 1 && res->responses(0).response_range().kvs_size() == 1) {
          const auto& kv = res->responses(0).response_range().kvs(0);
          o.create_revision = kv.create_revision();
          o.lease = kv.lease();
          if (auto r = LeaderRecord::FromJson(kv.value()); r.ok()) {
            o.record = std::move(*r);
          } else {
            log::Warn("hub election: unreadable leader key", {{"error", r.status().message()}});
          }
        }
        election_.CampaignDone(Now(), o);
        if (watch_from_ == 0) watch_from_ = o.revision + 1;
      }
      CallDone();
    });
  }
}

void Leadership::PutMember(int64_t lease) {
  etcdserverpb::PutRequest r;
  r.set_key(Key("members/" + o_.me.member));
  r.set_value(o_.me.ToJson());
  r.set_lease(lease);
  client_->Put(std::move(r), [this, lease](Result<etcdserverpb::PutResponse> res) {
    std::lock_guard lock(mu_);
    member_put_out_ = false;
    uint64_t suppressed = 0;
    if (res.ok()) {
      member_lease_ = lease;
    } else {
      member_retry_at_ = Now() + o_.timings.retry_ms;
      if (quiet_member_.Allow(Now(), &suppressed))
        log::Warn("hub member key: put failed; trying again", {{"error", res.status().message()}, {"suppressed", suppressed}});
    }
    CallDone();
  });
}

Result<std::vector<LeaderRecord>> Leadership::ListMembers(etcd::Client& client, const std::string& prefix) {
  const std::string key = prefix + "hub/members/";
  etcdserverpb::RangeRequest r;
  r.set_key(key);
  r.set_range_end(etcd::PrefixEnd(key));
  r.set_limit(kMaxMembers);
  auto res = client.RangeSync(std::move(r));
  if (!res.ok()) return res.status();
  std::vector<LeaderRecord> out;
  for (const auto& kv : res->kvs()) {
    auto rec = LeaderRecord::FromJson(kv.value());
    if (!rec.ok()) {
      log::Warn("hub member key unreadable; skipped", {{"key", kv.key()}, {"error", rec.status().message()}});
      continue;
    }
    out.push_back(std::move(*rec));
  }
  return out;
}

std::optional<LeaderRecord> Leadership::Leader() const {
  std::lock_guard lock(mu_);
  return election_.leader();
}

void Leadership::OnWatch(etcd::WatchUpdate u) {
  std::lock_guard lock(mu_);
  if (!u.error.ok() || u.compact_revision > 0) {
    log::Warn("hub election: leader watch ended; reading the key again",
              {{"error", u.error.ok() ? "compacted" : u.error.message()}});
    watch_lost_ = true;
  }
  for (const auto& e : u.events) {
    const auto& kv = e.kv();
    if (e.type() == mvccpb::Event::DELETE) {
      election_.LeaderKeyDeleted(kv.mod_revision());
    } else {
      auto r = LeaderRecord::FromJson(kv.value());
      if (!r.ok()) log::Warn("hub election: unreadable leader key", {{"error", r.status().message()}});
      election_.LeaderKeyPut(kv.mod_revision(), kv.create_revision(),
                             r.ok() ? std::optional<LeaderRecord>(std::move(*r)) : std::nullopt);
    }
  }
  cv_.notify_all();
}

void Leadership::AfterChangeLocked(int64_t now) {
  Role role = election_.role();
  std::string member = election_.leader() ? election_.leader()->member : "";
  if (member != last_leader_member_ && !member.empty()) {  // an election between two leaders is no change
    if (!last_leader_member_.empty()) ++leader_changes_;
    log::Info("hub leader known", {{"member", member}, {"grpc", election_.leader()->grpc},
                                   {"git", election_.leader()->git}, {"self", member == o_.me.member}});
    last_leader_member_ = member;
  }
  if (role != last_role_) {
    log::Info("hub role changed", {{"from", RoleName(last_role_)}, {"to", RoleName(role)},
                                   {"reason", election_.deposed_reason()}, {"member", o_.me.member}});
    last_role_ = role;
  }
  if (role == Role::kLeader && !takeover_started_) {
    takeover_started_ = true;
    takeover_thread_ = std::thread([this] { Takeover(); });
  }
  if (role == Role::kDeposed && !deposed_reported_) {
    deposed_reported_ = true;
    took_over_ = false;
    log::Error("hub stopped leading", {{"reason", election_.deposed_reason()}});
    if (o_.on_deposed) o_.on_deposed(election_.deposed_reason());
  }
  (void)now;
}

void Leadership::Takeover() {
  std::unique_lock lock(mu_);
  while (!stop_ && election_.role() == Role::kLeader) {
    lock.unlock();
    Status s = o_.takeover ? o_.takeover() : Status::Ok();
    lock.lock();
    if (s.ok()) {
      if (election_.role() == Role::kLeader) {
        took_over_ = true;
        log::Info("hub leading: took over", {{"member", o_.me.member}, {"grpc", o_.me.grpc}});
      }
      return;
    }
    log::Warn("hub takeover failed; trying again", {{"error", s.message()}});
    cv_.wait_for(lock, std::chrono::milliseconds(o_.timings.retry_ms), [this] { return stop_; });
  }
}

Result<etcdserverpb::TxnResponse> Leadership::FencedTxn(etcdserverpb::TxnRequest txn) {
  int64_t rev;
  {
    std::lock_guard lock(mu_);
    if (!election_.Leading(Now())) return Status::FailedPrecondition("this hub is not the leader; nothing written");
    rev = election_.my_create_revision();
  }
  auto* c = txn.add_compare();
  c->set_key(Key("leader"));
  c->set_target(etcdserverpb::Compare::CREATE);
  c->set_result(etcdserverpb::Compare::EQUAL);
  c->set_create_revision(rev);
  txn.add_failure()->mutable_request_range()->set_key(Key("leader"));
  auto res = client_->TxnSync(std::move(txn));
  if (!res.ok()) return res.status();
  if (res->succeeded()) return res;
  const int n = res->responses_size();
  const auto& fence = n > 0 ? res->responses(n - 1).response_range() : etcdserverpb::RangeResponse();
  if (fence.kvs_size() != 1 || fence.kvs(0).create_revision() != rev)
    return Status::FailedPrecondition("this hub is no longer the leader (the leader key changed); nothing written");
  return res;
}

std::string Leadership::MetricsText() const {
  std::lock_guard lock(mu_);
  PromText out;
  out.Gauge("skyport_hub_is_leader", "1 while this hub leads (elected and taken over).",
            took_over_ && election_.Leading(Now()) ? 1 : 0);
  out.Counter("skyport_hub_elections_total", "Campaigns this hub ran (leader key absent or unknown).",
              election_.campaigns());
  out.Counter("skyport_hub_elections_won_total", "Campaigns this hub won.", election_.elections_won());
  out.Counter("skyport_hub_leader_changes_total", "Changes of the leader this hub saw.", leader_changes_);
  return out.Take();
}

}  // namespace skyport::hub::ha
