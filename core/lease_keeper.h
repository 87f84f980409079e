// LeaseKeeper: when a registry lease holder (the drone, a router's presence,
// `skyport registry register -- CMD`) makes which call. Pure: the caller does
// the calls (rpc/lease_shell.h), passes `now` (monotonic ms) and a uniform
// random value for the jitter, and reports each answer back.
//
//   no lease ──Grant ok──▶ lease held ──every interval (ttl/3)──▶ KeepAlive
//      ▲                      │  something to register? ──▶ Register
//      │                      │  every audit interval ──▶ Audit
//      └── NOT_FOUND ◀────────┘  (KeepAlive, Register or Audit: the registry
//          lost the lease; grant again at once, and register again under it)
//
// The audit reads back what the registry holds under the lease: a store
// restored from a backup (etcd's snapshot restore) can keep a lease but lose
// the entries registered after the backup, or bring back ones removed since.
// The holder compares (AuditEntries) and registers or deregisters again.
//
// Any other failure (the registry away, a deadline, a refusal) backs off:
// the next call of any kind waits BackoffDelayMs(backoff, failures - 1), at
// most one keep-alive interval, so that a KeepAlive is never pushed past the
// lease's TTL by a retry; then the step that is due (KeepAlive before
// Register) is tried again. A success of any call ends the backoff.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backoff.h"
#include "core/status.h"

namespace skyport {

// What an audit found (see above): `mine` are the entry ids the holder
// believes registered under the lease, `held` the ones the registry holds.
struct EntryAudit {
  std::vector<uint64_t> missing;  // mine, not held: register again
  std::vector<uint64_t> unknown;  // held, not mine: deregister
  bool clean() const { return missing.empty() && unknown.empty(); }
};
EntryAudit AuditEntries(std::vector<uint64_t> mine, std::vector<uint64_t> held);

// ttl/3 so that two KeepAlives may be lost before the lease expires; at least
// 200 ms so a tiny TTL cannot spin.
int64_t KeepAliveIntervalMs(uint32_t ttl_seconds);

struct LeaseTiming {
  int64_t keepalive_ms = 3333;                  // between KeepAlives
  BackoffPolicy backoff = kReconnectBackoff;    // after a failure
  int64_t audit_ms = 0;                         // between Audits (0: never)
};
// Audits every 2 TTLs, at least every 2 s and at most every 60 s: a
// registry restored from a backup is caught up within that.
int64_t AuditIntervalMs(uint32_t ttl_seconds);
LeaseTiming LeaseTimingFor(uint32_t ttl_seconds, BackoffPolicy backoff = kReconnectBackoff);

enum class LeaseStep {
  kWait,       // nothing due before WakeAt
  kGrant,      // no lease: grant one
  kKeepAlive,  // the interval has passed
  kRegister,   // the lease is alive and the caller has something to register
  kAudit,      // the audit interval has passed (before registering: a refused one cannot hold it back)
};

// What an answer meant.
enum class LeaseOutcome {
  kOk,     // done: keep going
  kLost,   // NOT_FOUND: the lease is gone with its entries; the next step is a Grant, at once
  kRetry,  // any other failure: backing off
};

class LeaseKeeper {
 public:
  // `lease` != 0: a lease the caller was granted at `now` (KeepAlive due one
  // interval later); 0: start with a Grant.
  explicit LeaseKeeper(LeaseTiming timing, uint64_t lease = 0, int64_t now = 0);

  // The call to make at `now`. `need_register`: the caller has an entry not
  // yet registered under the current lease (it keeps that count itself: the
  // keeper only says "the lease is new" through lease()).
  LeaseStep Next(int64_t now, bool need_register) const;
  // When Next may change on its own (<= now: at once). The caller also wakes
  // when need_register becomes true, unless BackingOff.
  int64_t WakeAt(int64_t now, bool need_register) const;

  LeaseOutcome OnGrant(int64_t now, const Status& status, uint64_t lease, double uniform01);
  LeaseOutcome OnKeepAlive(int64_t now, const Status& status, double uniform01);
  LeaseOutcome OnRegister(int64_t now, const Status& status, double uniform01);
  // NOT_FOUND loses the lease; any other failure waits for the next
  // interval and backs nothing off (the KeepAlives say whether the registry is away).
  LeaseOutcome OnAudit(int64_t now, const Status& status, double uniform01);
  // A call of the caller's own (a deregistration, a port release) found the
  // registry away: back off all the same.
  void OnFailure(int64_t now, double uniform01);

  uint64_t lease() const { return lease_; }
  // Consecutive failures (0: the last call succeeded).
  int failures() const { return failures_; }
  bool BackingOff(int64_t now) const { return now < retry_at_; }
  int64_t interval_ms() const { return timing_.keepalive_ms; }

 private:
  LeaseOutcome Fail(int64_t now, double uniform01);
  LeaseOutcome Lose(int64_t now);

  LeaseTiming timing_;
  uint64_t lease_ = 0;
  int64_t next_keepalive_ = 0;
  int64_t next_audit_ = 0;
  int64_t retry_at_ = 0;  // no call before this (backoff)
  int failures_ = 0;
};

}  // namespace skyport
