// The registry's rules (state.h) as etcd reads and transactions. Pure: each
// function builds a request or reads a response; etcd_backend.cc sends them.
//
// Every write is one Txn whose compares hold the facts the decision was made
// on (the lease is alive, the port is free or unchanged, the route is at the
// expected revision). A Txn that fails its compares changed nothing: the
// backend reads again and decides again, a bounded number of times. So two
// registries never hand out one port twice: the port key is created only if
// absent (Compare CREATE == 0), by whichever Txn etcd orders first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "registry/etcd_keys.h"
#include "registry/port_allocator.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

namespace etcdpb = etcdserverpb;

// A decoded key with the revision its compare will name.
template <class T>
struct Versioned {
  T value;
  int64_t mod_revision = 0;
};

// --- Leases --------------------------------------------------------------
// The etcd TTL for a Skyport TTL (0 = never expires).
int64_t EtcdTtl(uint32_t ttl_s);
// After LeaseGrant(id): the lease record, created only if absent, attached.
etcdpb::TxnRequest GrantTxn(const EtcdKeys& keys, uint64_t id, uint32_t ttl_s);
// Ending a static lease after its last entry, in two steps that cannot lose
// an entry registered meanwhile: the lease record goes first, if unchanged
// since `mod_revision` (Allocate and Register compare that it exists, so
// nothing new attaches from then on); then the lease's keys are counted, and
// the lease is revoked when none is left, or its record put back (`RestoreLeaseTxn`,
// only if still absent) when an entry had attached before the record went.
etcdpb::TxnRequest RetireLeaseRecordTxn(const EtcdKeys& keys, uint64_t id, int64_t mod_revision);
etcdpb::TxnRequest RestoreLeaseTxn(const EtcdKeys& keys, uint64_t id);

// The sweep of orphaned static leases: a registry killed between granting a
// TTL-0 lease and writing its record, or between retiring a record and
// revoking or restoring it (above), leaves an etcd lease that never expires
// and that Revoke refuses (no record). Each registry's sweep (every
// --lease-sweep seconds) looks at the registry's leases (ids <= kMaxId) that
// had no record at two sweeps in a row (a grant or an end in progress takes
// milliseconds) and decides here, from etcd's LeaseTimeToLive with keys.
enum class OrphanAction { kKeep, kRevoke, kRestore };
OrphanAction DecideOrphanLease(const EtcdKeys& keys, uint64_t id, int64_t granted_ttl, int64_t ttl,
                               const google::protobuf::RepeatedPtrField<std::string>& lease_keys);
// A LeaseKeepAlive answer (etcd's TTL; <= 0: gone) as KeepAlive's: the
// lease's TTL, 0 for a static lease.
Result<uint32_t> KeepAliveOutcome(uint64_t id, int64_t etcd_ttl, uint32_t max_ttl_s);
// Endpoint keys among a lease's keys (LeaseTimeToLive with keys), sorted:
// what Revoke removes and reports, what Query by lease reads.
std::vector<std::string> EndpointKeysOf(const EtcdKeys& keys,
                                        const google::protobuf::RepeatedPtrField<std::string>& lease_keys);

// --- Allocate --------------------------------------------------------------
struct AllocateDecision {
  enum Kind { kAnswer, kRefuse, kReserve, kPick } kind = kRefuse;
  uint32_t port = 0;                          // kAnswer: the port; kReserve: the one asked for
  Status error;                               // kRefuse
  std::optional<Versioned<Allocation>> drop;  // kPick: the holder's stale allocation, removed with the pick
};
// RegistryState::Allocate's rules, on what the backend read: `held` are the
// lease's allocations on req.host for the request's identity (its identity
// index, for a retried Allocate), `at_port` the
// allocation live on req.port (when req.port != 0). The request is valid and
// its lease alive.
AllocateDecision DecideAllocate(const v1::AllocateRequest& req, const std::vector<Versioned<Allocation>>& held,
                                const std::optional<Allocation>& at_port);
// A port in [lo, hi] from `random`, stepping past `avoid`; 0 if all avoided.
uint32_t CandidatePort(uint32_t lo, uint32_t hi, uint64_t random, const std::vector<uint32_t>& avoid);
// The Txn that reserves `a` (and removes `drop`): If(lease record exists,
// port key absent, drop unchanged, identity index as expected) Then(put the
// port and the identity index, attached to the lease) Else(range lease
// record, port key, identity index). `index_mod`: nullopt = any (an explicit
// port), 0 = absent, N = at mod revision N (a stale one, overwritten) — so an
// Allocate of a new identity is this one Txn.
etcdpb::TxnRequest ReservePortTxn(const EtcdKeys& keys, const Allocation& a,
                                  const std::optional<Versioned<Allocation>>& drop,
                                  std::optional<int64_t> index_mod = std::nullopt);
enum class ReserveMiss { kLeaseGone, kIndexChanged, kPortTaken, kChanged };
ReserveMiss ReadReserveMiss(const etcdpb::TxnResponse& r, std::optional<int64_t> index_mod = std::nullopt);
// The allocation a port key's Range found (nullopt: none), with its mod revision.
Result<std::optional<Versioned<Allocation>>> FirstAllocation(
    const EtcdKeys& keys, const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs);
// The identity index the failed Txn read (nullopt: none), with its mod revision.
Result<std::optional<Versioned<Allocation>>> ReadIndexAfterMiss(const EtcdKeys& keys, const etcdpb::TxnResponse& r);
// The allocation for a request on `port`.
Allocation AllocationFor(const v1::AllocateRequest& req, uint32_t port);

// --- Register / Deregister / ReleasePort ----------------------------------
// One read Txn: the lease record and the allocation on the endpoint's port.
etcdpb::TxnRequest RegisterReadTxn(const EtcdKeys& keys, const v1::Endpoint& ep);
struct RegisterRead {
  bool lease_live = false;
  std::optional<Versioned<Allocation>> alloc;
  std::optional<Versioned<v1::Endpoint>> old;  // the entry on the port, read next when alloc names one
};
Result<RegisterRead> ParseRegisterRead(const EtcdKeys& keys, const etcdpb::TxnResponse& r);
// RegistryState::Register's rules: the Txn that writes the entry and its
// port (compares: lease alive, port and old entry unchanged, a new id
// unused), and the entry's id. `new_id` is used for a new entry.
struct RegisterPlan {
  uint64_t id = 0;
  etcdpb::TxnRequest txn;
};
Result<RegisterPlan> PlanRegister(const EtcdKeys& keys, const v1::Endpoint& in, const RegisterRead& read,
                                  uint64_t new_id, int64_t now_wall_ms);
// The common Registers in one round trip, no read first: a new entry on a
// port nobody holds (compares: lease alive, port and entry key absent), or,
// in the Txn's failure branch, on a port this lease allocated for the same
// identity that carries no entry yet (the port's value is exactly what
// Allocate wrote). Anything else (an update, another holder's port, a lease
// gone) matches neither, writes nothing, and takes the read-then-write
// path, which gives the answer. `new_id` must be unused (the compares check).
etcdpb::TxnRequest OneTripRegisterTxn(const EtcdKeys& keys, const v1::Endpoint& in, uint64_t new_id,
                                      int64_t now_wall_ms);
// Whether that Txn wrote the entry.
bool OneTripRegistered(const etcdpb::TxnResponse& r);
// Removes the entry if it is unchanged (else ranges it), and with it its
// port as read (`port`), if that still carries this entry under its lease
// and is unchanged. A port that carries another entry stays: after a restore
// from a backup, an entry the holder had removed can come back beside the
// one that took its port since.
etcdpb::TxnRequest DeregisterTxn(const EtcdKeys& keys, const Versioned<v1::Endpoint>& ep,
                                 const std::optional<Versioned<Allocation>>& port);
// ReleasePort's checks on the allocation read (nullopt: none).
Status CheckRelease(const std::optional<Allocation>& a, const std::string& host, uint32_t port, uint64_t lease_id);
// Removes allocation `a` (read at `mod_revision`) and its identity index.
etcdpb::TxnRequest ReleaseTxn(const EtcdKeys& keys, const Allocation& a, int64_t mod_revision);

// --- Routes ---------------------------------------------------------------
// expected: nullopt = unconditional; 0 = must not exist; N = must be at N.
etcdpb::TxnRequest PutRouteTxn(const EtcdKeys& keys, const v1::RouteConfig& r, std::optional<int64_t> expected);
etcdpb::TxnRequest DeleteRouteTxn(const EtcdKeys& keys, const std::string& app, std::optional<int64_t> expected);
// The new revision, or the refusal RegistryState would give.
Result<int64_t> RouteTxnOutcome(const std::string& app, std::optional<int64_t> expected, bool is_delete,
                                const etcdpb::TxnResponse& r);

// A Range of one key, or of every key under `prefix` (keys sorted) with at
// most `limit` keys (0 = no limit), at `revision` (0 = latest).
etcdpb::RangeRequest RangeKey(const std::string& key);
etcdpb::RangeRequest RangePrefix(const std::string& prefix, int64_t limit, int64_t revision);

}  // namespace skyport::registry
