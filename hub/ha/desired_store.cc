#include "hub/ha/desired_store.h"

#include <utility>

#include "core/log.h"
#include "core/prom_text.h"

namespace skyport::hub::ha {

DesiredSeen ClassifyDesired(const std::optional<std::string>& value, int64_t mod_revision, int64_t known_revision,
                            const std::string& writing, const std::optional<std::string>& lost) {
  if (value && *value == writing) return DesiredSeen::kOurs;
  if (mod_revision == known_revision) return DesiredSeen::kUnchanged;
  if (value && lost && *value == *lost) return DesiredSeen::kLostLanded;
  return DesiredSeen::kForeign;
}

DesiredStore::DesiredStore(FencedKv kv, std::string key, std::function<void(const std::string&)> on_conflict)
    : kv_(std::move(kv)), key_(std::move(key)), on_conflict_(std::move(on_conflict)) {}

DesiredStore::Read DesiredStore::FromRange(const etcdserverpb::RangeResponse& r) {
  Read out;
  if (r.kvs_size() > 0) {
    out.value = r.kvs(0).value();
    out.mod = r.kvs(0).mod_revision();
  }
  return out;
}

Result<std::optional<std::string>> DesiredStore::Load() {
  etcdserverpb::RangeRequest r;
  r.set_key(key_);
  auto got = kv_.range(std::move(r));
  if (!got.ok()) return got.status();
  Read now = FromRange(*got);
  std::lock_guard lock(mu_);
  known_ = now.mod;
  lost_.reset();
  return now.value;
}

Status DesiredStore::ConflictLocked(const std::string& why) {
  ++conflicts_;
  const bool first = !conflict_;
  conflict_ = true;
  const std::string reason = "the desired state in etcd changed under this hub (" + why + ")";
  if (first) {
    log::Error("desired state conflict; this hub stops leading so that a successor loads etcd's",
               {{"key", key_}, {"why", why}});
    if (on_conflict_) on_conflict_(reason);
  }
  return Status::Aborted(reason + "; nothing written");
}

Status DesiredStore::Save(const std::string& json) {
  std::lock_guard lock(mu_);
  if (conflict_) return Status::Aborted("the desired state in etcd changed under this hub; nothing written");
  if (known_ < 0) return Status::FailedPrecondition("the desired state was not loaded from etcd yet; nothing written");
  // Two rounds at most: the second only after adopting our own lost write.
  for (int round = 0; round < 2; ++round) {
    etcdserverpb::TxnRequest t;
    auto* c = t.add_compare();
    c->set_key(key_);
    c->set_target(etcdserverpb::Compare::MOD);
    c->set_result(etcdserverpb::Compare::EQUAL);
    c->set_mod_revision(known_);
    auto* put = t.add_success()->mutable_request_put();
    put->set_key(key_);
    put->set_value(json);
    t.add_failure()->mutable_request_range()->set_key(key_);
    auto res = kv_.txn(std::move(t));
    if (!res.ok()) {
      if (res.status().code() != Code::kUnavailable) return res.status();  // not leading: nothing written
      ++unknown_outcomes_;
      etcdserverpb::RangeRequest r;
      r.set_key(key_);
      auto got = kv_.range(std::move(r));
      if (!got.ok()) {
        lost_ = json;
        return Status::Unavailable("etcd: the desired state's write may or may not have been applied (" +
                                   res.status().message() + "); send the command again");
      }
      const Read now = FromRange(*got);
      switch (ClassifyDesired(now.value, now.mod, known_, json, lost_)) {
        case DesiredSeen::kOurs:
          known_ = now.mod;
          lost_.reset();
          return Status::Ok();
        case DesiredSeen::kUnchanged:
          lost_ = json;  // etcd may still apply it: the next write's compare keeps it from landing over that
          return Status::Unavailable("etcd: the desired state was not written (" + res.status().message() +
                                     "); send the command again");
        case DesiredSeen::kLostLanded:  // an older lost write won the compare: this one cannot land
          known_ = now.mod;
          lost_.reset();
          return Status::Unavailable("etcd: the desired state was not written (" + res.status().message() +
                                     "); send the command again");
        case DesiredSeen::kForeign:
          return ConflictLocked("a write this hub did not make, at revision " + std::to_string(now.mod));
      }
    }
    if (res->succeeded()) {
      known_ = res->header().revision();
      lost_.reset();
      return Status::Ok();
    }
    if (res->responses_size() == 0) return ConflictLocked("no read of the key in the failed Txn");
    const Read now = FromRange(res->responses(0).response_range());
    switch (ClassifyDesired(now.value, now.mod, known_, json, lost_)) {
      case DesiredSeen::kOurs:  // a lost write of the same value landed
        known_ = now.mod;
        lost_.reset();
        return Status::Ok();
      case DesiredSeen::kLostLanded:
        known_ = now.mod;
        lost_.reset();
        continue;  // write on top of it
      case DesiredSeen::kUnchanged:  // cannot be: the compare failed
      case DesiredSeen::kForeign:
        return ConflictLocked("a write this hub did not make, at revision " + std::to_string(now.mod));
    }
  }
  return ConflictLocked("the key kept changing");
}

std::string DesiredStore::MetricsText() const {
  std::lock_guard lock(mu_);
  PromText out;
  out.Counter("skyport_hub_desired_unknown_outcomes_total",
              "Desired-state writes whose answer from etcd was lost (read back to decide).", unknown_outcomes_);
  out.Counter("skyport_hub_desired_conflicts_total",
              "Desired-state writes that found a value this hub did not write (the hub stops leading).", conflicts_);
  return out.Take();
}

}  // namespace skyport::hub::ha
