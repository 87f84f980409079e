// The sweep of orphaned static leases (etcd_plans.h DecideOrphanLease): on
// its own thread, with the client's blocking calls, every --lease-sweep.
#include <chrono>

#include "core/log.h"
#include "registry/etcd_backend.h"
#include "registry/etcd_plans.h"

namespace skyport::registry {

void EtcdBackend::SweepLoop() {
  std::set<uint64_t> suspects;  // leases without a record at the last sweep
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(opts_.lease_sweep_ms), [this] { return stop_; });
    if (stop_) return;
    lock.unlock();
    suspects = SweepOnce(suspects);
    lock.lock();
  }
}

std::set<uint64_t> EtcdBackend::SweepOnce(const std::set<uint64_t>& suspects) {
  auto leases = client_->LeaseLeasesSync({});
  if (!leases.ok()) return suspects;  // etcd away: try at the next sweep
  etcdserverpb::RangeRequest records = RangePrefix(keys_.LeasePrefix(), 0, 0);
  records.set_keys_only(true);
  auto held = client_->RangeSync(std::move(records));
  if (!held.ok()) return suspects;
  std::set<uint64_t> with_record;
  for (const auto& kv : held->kvs())
    if (ParsedKey k = keys_.Parse(kv.key()); k.kind == KeyKind::kLease) with_record.insert(k.id);
  std::set<uint64_t> now;
  for (const auto& l : leases->leases()) {
    const auto id = static_cast<uint64_t>(l.id());
    if (id != 0 && id <= kMaxId && !with_record.count(id)) now.insert(id);
  }
  for (uint64_t id : now) {
    if (!suspects.count(id)) continue;  // perhaps a grant or an end in progress: look again next time
    etcdserverpb::LeaseTimeToLiveRequest t;
    t.set_id(static_cast<int64_t>(id));
    t.set_keys(true);
    auto ttl = client_->LeaseTimeToLiveSync(std::move(t));
    if (!ttl.ok()) continue;
    const OrphanAction action = DecideOrphanLease(keys_, id, ttl->grantedttl(), ttl->ttl(), ttl->keys());
    Status done;
    if (action == OrphanAction::kRevoke) {
      etcdserverpb::LeaseRevokeRequest rv;
      rv.set_id(static_cast<int64_t>(id));
      auto r = client_->LeaseRevokeSync(std::move(rv));
      done = r.ok() || r.status().code() == Code::kNotFound ? Status::Ok() : r.status();
      if (done.ok()) ++counters_.orphans_revoked;
    } else if (action == OrphanAction::kRestore) {
      auto r = client_->TxnSync(RestoreLeaseTxn(keys_, id));
      done = r.ok() ? Status::Ok() : r.status();
      if (r.ok() && r->succeeded()) ++counters_.orphans_restored;
    } else {
      continue;
    }
    log::Warn(action == OrphanAction::kRevoke ? "revoked a static lease a registry left without its record"
                                              : "gave a static lease back its record (a registry died ending it)",
              {{"lease_id", static_cast<int64_t>(id)}, {"entries_and_ports", ttl->keys_size()},
               {"error", done.ok() ? std::string() : done.message()}});
  }
  return now;
}

}  // namespace skyport::registry
