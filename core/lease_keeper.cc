#include "core/lease_keeper.h"

#include <algorithm>
#include <iterator>

namespace skyport {

int64_t KeepAliveIntervalMs(uint32_t ttl_seconds) {
  return std::max<int64_t>(200, static_cast<int64_t>(ttl_seconds) * 1000 / 3);
}

int64_t AuditIntervalMs(uint32_t ttl_seconds) {
  return std::clamp<int64_t>(int64_t{ttl_seconds} * 2000, 2000, 60000);
}

LeaseTiming LeaseTimingFor(uint32_t ttl_seconds, BackoffPolicy backoff) {
  return LeaseTiming{KeepAliveIntervalMs(ttl_seconds), backoff, AuditIntervalMs(ttl_seconds)};
}

EntryAudit AuditEntries(std::vector<uint64_t> mine, std::vector<uint64_t> held) {
  std::sort(mine.begin(), mine.end());
  mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
  std::sort(held.begin(), held.end());
  held.erase(std::unique(held.begin(), held.end()), held.end());
  EntryAudit a;
  std::set_difference(mine.begin(), mine.end(), held.begin(), held.end(), std::back_inserter(a.missing));
  std::set_difference(held.begin(), held.end(), mine.begin(), mine.end(), std::back_inserter(a.unknown));
  return a;
}

LeaseKeeper::LeaseKeeper(LeaseTiming timing, uint64_t lease, int64_t now)
    : timing_(timing), lease_(lease), next_keepalive_(now + timing.keepalive_ms), next_audit_(now + timing.audit_ms) {}

LeaseStep LeaseKeeper::Next(int64_t now, bool need_register) const {
  if (BackingOff(now)) return LeaseStep::kWait;
  if (lease_ == 0) return LeaseStep::kGrant;
  if (now >= next_keepalive_) return LeaseStep::kKeepAlive;
  // An audit that is due goes before registering: a registration the
  // registry keeps refusing must not hold back the removal of stray entries.
  if (timing_.audit_ms > 0 && now >= next_audit_) return LeaseStep::kAudit;
  return need_register ? LeaseStep::kRegister : LeaseStep::kWait;
}

int64_t LeaseKeeper::WakeAt(int64_t now, bool need_register) const {
  if (BackingOff(now)) return retry_at_;
  if (lease_ == 0 || need_register) return now;
  return timing_.audit_ms > 0 ? std::min(next_keepalive_, next_audit_) : next_keepalive_;
}

LeaseOutcome LeaseKeeper::OnGrant(int64_t now, const Status& status, uint64_t lease, double uniform01) {
  if (!status.ok() || lease == 0) return Fail(now, uniform01);
  lease_ = lease;
  next_keepalive_ = now + timing_.keepalive_ms;
  next_audit_ = now + timing_.audit_ms;
  failures_ = 0;
  return LeaseOutcome::kOk;
}

// An audit that failed for another reason is tried again at the next
// interval, without backing off the calls that keep the lease.
LeaseOutcome LeaseKeeper::OnAudit(int64_t now, const Status& status, double /*uniform01*/) {
  if (status.code() == Code::kNotFound) return Lose(now);
  next_audit_ = now + timing_.audit_ms;
  return status.ok() ? LeaseOutcome::kOk : LeaseOutcome::kRetry;
}

LeaseOutcome LeaseKeeper::OnKeepAlive(int64_t now, const Status& status, double uniform01) {
  const LeaseOutcome outcome = OnRegister(now, status, uniform01);
  if (outcome == LeaseOutcome::kOk) next_keepalive_ = now + timing_.keepalive_ms;
  return outcome;
}

// Any answer to a call made under the lease: NOT_FOUND says the lease is gone.
LeaseOutcome LeaseKeeper::OnRegister(int64_t now, const Status& status, double uniform01) {
  if (status.code() == Code::kNotFound) return Lose(now);
  if (!status.ok()) return Fail(now, uniform01);
  failures_ = 0;
  return LeaseOutcome::kOk;
}

void LeaseKeeper::OnFailure(int64_t now, double uniform01) { (void)Fail(now, uniform01); }

LeaseOutcome LeaseKeeper::Fail(int64_t now, double uniform01) {
  ++failures_;
  retry_at_ = now + std::min(BackoffDelayMs(timing_.backoff, failures_ - 1, uniform01), timing_.keepalive_ms);
  return LeaseOutcome::kRetry;
}

// The failure count is left alone: a lease lost during an outage is granted
// again at once, but a failing Grant keeps backing off from where it was.
LeaseOutcome LeaseKeeper::Lose(int64_t now) {
  lease_ = 0;
  retry_at_ = now;
  return LeaseOutcome::kLost;
}

}  // namespace skyport
