#include "registry/etcd_plans.h"

#include <algorithm>

#include "registry/errors.h"
#include "registry/validate.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::registry {
namespace {

etcdpb::Compare Cmp(const std::string& key, etcdpb::Compare::CompareTarget target,
                    etcdpb::Compare::CompareResult result, int64_t v) {
  etcdpb::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(result);
  switch (target) {
    case etcdpb::Compare::CREATE: c.set_create_revision(v); break;
    case etcdpb::Compare::MOD: c.set_mod_revision(v); break;
    case etcdpb::Compare::LEASE: c.set_lease(v); break;
    default: c.set_version(v); break;
  }
  return c;
}
etcdpb::Compare Exists(const std::string& key) { return Cmp(key, etcdpb::Compare::CREATE, etcdpb::Compare::GREATER, 0); }
etcdpb::Compare Absent(const std::string& key) { return Cmp(key, etcdpb::Compare::CREATE, etcdpb::Compare::EQUAL, 0); }
etcdpb::Compare ModIs(const std::string& key, int64_t rev) {
  return Cmp(key, etcdpb::Compare::MOD, etcdpb::Compare::EQUAL, rev);
}

void AddPut(google::protobuf::RepeatedPtrField<etcdpb::RequestOp>* ops, const std::string& key, std::string value,
            uint64_t lease) {
  auto* put = ops->Add()->mutable_request_put();
  put->set_key(key);
  put->set_value(std::move(value));
  put->set_lease(static_cast<int64_t>(lease));
}
void AddDelete(google::protobuf::RepeatedPtrField<etcdpb::RequestOp>* ops, const std::string& key) {
  ops->Add()->mutable_request_delete_range()->set_key(key);
}
void AddRange(google::protobuf::RepeatedPtrField<etcdpb::RequestOp>* ops, const std::string& key) {
  *ops->Add()->mutable_request_range() = RangeKey(key);
}
const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& KvsOf(const etcdpb::TxnResponse& r, int i) {
  static const etcdpb::RangeResponse kEmpty;
  if (i >= r.responses_size() || !r.responses(i).has_response_range()) return kEmpty.kvs();
  return r.responses(i).response_range().kvs();
}

bool SameIdentity(const Allocation& a, const v1::AllocateRequest& r) {
  return a.lease_id == r.lease_id() && a.app == r.app() && a.commit == r.commit() && a.role == r.role() &&
         a.instance == r.instance();
}

}  // namespace

int64_t EtcdTtl(uint32_t ttl_s) { return ttl_s == 0 ? kStaticLeaseTtl : int64_t{ttl_s}; }

etcdpb::TxnRequest GrantTxn(const EtcdKeys& keys, uint64_t id, uint32_t ttl_s) {
  etcdpb::TxnRequest t;
  *t.add_compare() = Absent(keys.Lease(id));
  AddPut(t.mutable_success(), keys.Lease(id), EncodeLease(id, ttl_s), id);
  return t;
}

etcdpb::TxnRequest RetireLeaseRecordTxn(const EtcdKeys& keys, uint64_t id, int64_t mod_revision) {
  etcdpb::TxnRequest t;
  *t.add_compare() = ModIs(keys.Lease(id), mod_revision);
  AddDelete(t.mutable_success(), keys.Lease(id));
  return t;
}

etcdpb::TxnRequest RestoreLeaseTxn(const EtcdKeys& keys, uint64_t id) { return GrantTxn(keys, id, 0); }

OrphanAction DecideOrphanLease(const EtcdKeys& keys, uint64_t id, int64_t granted_ttl, int64_t ttl,
                               const google::protobuf::RepeatedPtrField<std::string>& lease_keys) {
  // Not the registry's (hub election leases are above kMaxId), gone, or one
  // that expires by itself.
  if (id == 0 || id > kMaxId || ttl <= 0 || granted_ttl != kStaticLeaseTtl) return OrphanAction::kKeep;
  if (lease_keys.empty()) return OrphanAction::kRevoke;
  for (const std::string& k : lease_keys) {
    const ParsedKey p = keys.Parse(k);
    if (p.kind == KeyKind::kLease) return OrphanAction::kKeep;  // it has its record after all
    if (p.kind != KeyKind::kEndpoint && p.kind != KeyKind::kPort && p.kind != KeyKind::kUnregistered)
      return OrphanAction::kKeep;  // not ours
  }
  return OrphanAction::kRestore;  // entries or ports of ours hold it: give it its record back
}

Result<uint32_t> KeepAliveOutcome(uint64_t id, int64_t etcd_ttl, uint32_t max_ttl_s) {
  if (etcd_ttl <= 0) return ErrLeaseExpired(id);
  if (etcd_ttl > int64_t{max_ttl_s}) return uint32_t{0};  // a static lease
  return static_cast<uint32_t>(etcd_ttl);
}

std::vector<std::string> EndpointKeysOf(const EtcdKeys& keys,
                                        const google::protobuf::RepeatedPtrField<std::string>& lease_keys) {
  std::vector<std::string> out;
  for (const std::string& k : lease_keys)
    if (keys.Parse(k).kind == KeyKind::kEndpoint) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

AllocateDecision DecideAllocate(const v1::AllocateRequest& req, const std::vector<Versioned<Allocation>>& held,
                                const std::optional<Allocation>& at_port) {
  AllocateDecision d;
  if (req.port() != 0) {
    // A specific port: e.g. a holder that lost its lease re-reserving the
    // port its process still listens on.
    if (at_port) {
      if (at_port->lease_id == req.lease_id()) {
        d.kind = AllocateDecision::kAnswer;
        d.port = at_port->port;
      } else {
        d.error = ErrPortLive("port", *at_port);
      }
      return d;
    }
    d.kind = AllocateDecision::kReserve;
    d.port = req.port();
    return d;
  }
  const auto& avoid = req.avoid();
  for (const auto& h : held) {
    if (h.value.endpoint_id != 0 || h.value.host != req.host() || !SameIdentity(h.value, req)) continue;
    if (std::find(avoid.begin(), avoid.end(), h.value.port) == avoid.end()) {
      d.kind = AllocateDecision::kAnswer;  // a retried Allocate gets the same port
      d.port = h.value.port;
      return d;
    }
    d.drop = h;  // the holder found a stranger on it: of no use
    break;
  }
  d.kind = AllocateDecision::kPick;
  return d;
}

uint32_t CandidatePort(uint32_t lo, uint32_t hi, uint64_t random, const std::vector<uint32_t>& avoid) {
  const uint64_t n = uint64_t{hi} - lo + 1;
  uint32_t p = static_cast<uint32_t>(lo + random % n);
  // At most avoid.size() steps find a port that is not avoided, if any is.
  for (uint64_t step = 0; step < std::min<uint64_t>(n, avoid.size() + 1); ++step) {
    if (std::find(avoid.begin(), avoid.end(), p) == avoid.end()) return p;
    p = p == hi ? lo : p + 1;
  }
  return 0;
}

Allocation AllocationFor(const v1::AllocateRequest& req, uint32_t port) {
  Allocation a;
  a.host = req.host();
  a.port = port;
  a.lease_id = req.lease_id();
  SetIdentity(a, req);
  return a;
}

etcdpb::TxnRequest ReservePortTxn(const EtcdKeys& keys, const Allocation& a,
                                  const std::optional<Versioned<Allocation>>& drop, std::optional<int64_t> index_mod) {
  etcdpb::TxnRequest t;
  const std::string lease = keys.Lease(a.lease_id), port = keys.Port(a.host, a.port), index = keys.Unregistered(a);
  *t.add_compare() = Exists(lease);
  *t.add_compare() = Absent(port);
  if (drop) *t.add_compare() = ModIs(keys.Port(drop->value.host, drop->value.port), drop->mod_revision);
  if (index_mod) *t.add_compare() = *index_mod == 0 ? Absent(index) : ModIs(index, *index_mod);
  AddPut(t.mutable_success(), port, EncodeAllocation(a), a.lease_id);
  AddPut(t.mutable_success(), index, EncodeAllocation(a), a.lease_id);
  if (drop) AddDelete(t.mutable_success(), keys.Port(drop->value.host, drop->value.port));
  AddRange(t.mutable_failure(), lease);
  AddRange(t.mutable_failure(), port);
  AddRange(t.mutable_failure(), index);
  return t;
}

ReserveMiss ReadReserveMiss(const etcdpb::TxnResponse& r, std::optional<int64_t> index_mod) {
  if (KvsOf(r, 0).empty()) return ReserveMiss::kLeaseGone;
  if (index_mod) {
    const auto& index = KvsOf(r, 2);
    if (index.empty() ? *index_mod != 0 : index.Get(0).mod_revision() != *index_mod) return ReserveMiss::kIndexChanged;
  }
  if (!KvsOf(r, 1).empty()) return ReserveMiss::kPortTaken;
  return ReserveMiss::kChanged;
}

Result<std::optional<Versioned<Allocation>>> FirstAllocation(
    const EtcdKeys& keys, const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs) {
  if (kvs.empty()) return std::optional<Versioned<Allocation>>();
  auto a = DecodeAllocation(keys, kvs.Get(0));
  if (!a.ok()) return a.status();
  return std::optional<Versioned<Allocation>>(Versioned<Allocation>{std::move(*a), kvs.Get(0).mod_revision()});
}

Result<std::optional<Versioned<Allocation>>> ReadIndexAfterMiss(const EtcdKeys& keys, const etcdpb::TxnResponse& r) {
  const auto& index = KvsOf(r, 2);
  if (index.empty()) return std::optional<Versioned<Allocation>>();
  auto a = DecodeUnregistered(keys, index.Get(0));
  if (!a.ok()) return a.status();
  return std::optional<Versioned<Allocation>>(Versioned<Allocation>{std::move(*a), index.Get(0).mod_revision()});
}

etcdpb::TxnRequest RegisterReadTxn(const EtcdKeys& keys, const v1::Endpoint& ep) {
  etcdpb::TxnRequest t;
  AddRange(t.mutable_success(), keys.Lease(ep.lease_id()));
  AddRange(t.mutable_success(), keys.Port(ep.host(), ep.port()));
  return t;
}

Result<RegisterRead> ParseRegisterRead(const EtcdKeys& keys, const etcdpb::TxnResponse& r) {
  RegisterRead read;
  read.lease_live = !KvsOf(r, 0).empty();
  auto alloc = FirstAllocation(keys, KvsOf(r, 1));
  if (!alloc.ok()) return alloc.status();
  read.alloc = std::move(*alloc);
  return read;
}

namespace {

// The identity index of `a` (an allocation without an entry) goes with it,
// if it still names it (a nested Txn: the index may name another port).
void AddDropIndex(google::protobuf::RepeatedPtrField<etcdpb::RequestOp>* ops, const EtcdKeys& keys, Allocation a) {
  a.endpoint_id = 0;
  const std::string index = keys.Unregistered(a);
  etcdpb::TxnRequest* nested = ops->Add()->mutable_request_txn();
  etcdpb::Compare* value = nested->add_compare();
  value->set_key(index);
  value->set_target(etcdpb::Compare::VALUE);
  value->set_result(etcdpb::Compare::EQUAL);
  value->set_value(EncodeAllocation(a));
  AddDelete(nested->mutable_success(), index);
}

// The entry as stored (id, first registration time) and its port's value.
void AddRegisterPuts(google::protobuf::RepeatedPtrField<etcdpb::RequestOp>* ops, const EtcdKeys& keys,
                     const v1::Endpoint& ep, Allocation a) {
  a.host = ep.host();
  a.port = ep.port();
  a.lease_id = ep.lease_id();
  SetIdentity(a, ep);
  a.endpoint_id = ep.id();
  AddPut(ops, keys.Endpoint(ep.id()), EncodeEndpoint(ep), ep.lease_id());
  AddPut(ops, keys.Port(ep.host(), ep.port()), EncodeAllocation(a), ep.lease_id());
}

}  // namespace

etcdpb::TxnRequest OneTripRegisterTxn(const EtcdKeys& keys, const v1::Endpoint& in, uint64_t new_id,
                                      int64_t now_wall_ms) {
  v1::Endpoint ep = in;
  ep.clear_revision();
  ep.set_id(new_id);
  ep.set_registered_unix_ms(RegisteredAt(in, now_wall_ms));
  const std::string lease_key = keys.Lease(ep.lease_id()), port_key = keys.Port(ep.host(), ep.port()),
                    ep_key = keys.Endpoint(new_id);
  etcdpb::TxnRequest t;
  *t.add_compare() = Exists(lease_key);
  *t.add_compare() = Absent(port_key);
  *t.add_compare() = Absent(ep_key);
  AddRegisterPuts(t.mutable_success(), keys, ep, Allocation{});
  // Else: the port as Allocate left it for this lease and identity.
  Allocation allocated;
  allocated.host = ep.host();
  allocated.port = ep.port();
  allocated.lease_id = ep.lease_id();
  SetIdentity(allocated, ep);
  etcdpb::TxnRequest* on_allocation = t.add_failure()->mutable_request_txn();
  *on_allocation->add_compare() = Exists(lease_key);
  etcdpb::Compare* value = on_allocation->add_compare();
  value->set_key(port_key);
  value->set_target(etcdpb::Compare::VALUE);
  value->set_result(etcdpb::Compare::EQUAL);
  value->set_value(EncodeAllocation(allocated));
  *on_allocation->add_compare() = Cmp(port_key, etcdpb::Compare::LEASE, etcdpb::Compare::EQUAL,
                                      static_cast<int64_t>(ep.lease_id()));
  *on_allocation->add_compare() = Absent(ep_key);
  AddRegisterPuts(on_allocation->mutable_success(), keys, ep, allocated);
  AddDropIndex(on_allocation->mutable_success(), keys, allocated);
  return t;
}

bool OneTripRegistered(const etcdpb::TxnResponse& r) {
  if (r.succeeded()) return true;
  return r.responses_size() == 1 && r.responses(0).has_response_txn() && r.responses(0).response_txn().succeeded();
}

Result<RegisterPlan> PlanRegister(const EtcdKeys& keys, const v1::Endpoint& in, const RegisterRead& read,
                                  uint64_t new_id, int64_t now_wall_ms) {
  if (!read.lease_live) return ErrUnknownLease(in.lease_id());
  if (read.alloc && read.alloc->value.lease_id != in.lease_id()) return ErrPortLive("endpoint.port", read.alloc->value);
  v1::Endpoint ep = in;
  ep.clear_revision();
  const bool update = read.alloc && read.alloc->value.endpoint_id != 0 && read.old &&
                      read.old->value.id() == read.alloc->value.endpoint_id;
  RegisterPlan plan;
  if (update) {
    // Re-registration of the same host:port by the same holder: an update.
    plan.id = read.old->value.id();
    ep.set_registered_unix_ms(read.old->value.registered_unix_ms());
  } else {
    plan.id = new_id;
    ep.set_registered_unix_ms(RegisteredAt(in, now_wall_ms));
  }
  ep.set_id(plan.id);
  etcdpb::TxnRequest& t = plan.txn;
  const std::string port_key = keys.Port(ep.host(), ep.port()), ep_key = keys.Endpoint(plan.id);
  *t.add_compare() = Exists(keys.Lease(ep.lease_id()));
  *t.add_compare() = read.alloc ? ModIs(port_key, read.alloc->mod_revision) : Absent(port_key);
  *t.add_compare() = update ? ModIs(ep_key, read.old->mod_revision) : Absent(ep_key);
  AddRegisterPuts(t.mutable_success(), keys, ep, read.alloc ? read.alloc->value : Allocation{});
  if (read.alloc && read.alloc->value.endpoint_id == 0) AddDropIndex(t.mutable_success(), keys, read.alloc->value);
  return plan;
}

etcdpb::TxnRequest DeregisterTxn(const EtcdKeys& keys, const Versioned<v1::Endpoint>& ep,
                                 const std::optional<Versioned<Allocation>>& port) {
  etcdpb::TxnRequest t;
  const std::string ep_key = keys.Endpoint(ep.value.id()), port_key = keys.Port(ep.value.host(), ep.value.port());
  *t.add_compare() = ModIs(ep_key, ep.mod_revision);
  AddDelete(t.mutable_success(), ep_key);
  if (port && port->value.endpoint_id == ep.value.id() && port->value.lease_id == ep.value.lease_id()) {
    // The port goes with its entry, but never another lease's nor one that
    // changed since it was read (a nested Txn).
    etcdpb::TxnRequest* nested = t.add_success()->mutable_request_txn();
    *nested->add_compare() = ModIs(port_key, port->mod_revision);
    *nested->add_compare() = Cmp(port_key, etcdpb::Compare::LEASE, etcdpb::Compare::EQUAL,
                                 static_cast<int64_t>(ep.value.lease_id()));
    AddDelete(nested->mutable_success(), port_key);
  }
  AddRange(t.mutable_failure(), ep_key);
  return t;
}

Status CheckRelease(const std::optional<Allocation>& a, const std::string& host, uint32_t port, uint64_t lease_id) {
  if (!a || a->lease_id != lease_id) return ErrNotAllocatedTo(host, port, lease_id);
  if (a->endpoint_id != 0) return ErrPortCarriesEntry(host, port, a->endpoint_id);
  return Status::Ok();
}

etcdpb::TxnRequest ReleaseTxn(const EtcdKeys& keys, const Allocation& a, int64_t mod_revision) {
  etcdpb::TxnRequest t;
  *t.add_compare() = ModIs(keys.Port(a.host, a.port), mod_revision);
  AddDelete(t.mutable_success(), keys.Port(a.host, a.port));
  AddDropIndex(t.mutable_success(), keys, a);
  return t;
}

etcdpb::TxnRequest PutRouteTxn(const EtcdKeys& keys, const v1::RouteConfig& r, std::optional<int64_t> expected) {
  etcdpb::TxnRequest t;
  const std::string key = keys.Route(r.app());
  if (expected) *t.add_compare() = *expected == 0 ? Absent(key) : ModIs(key, *expected);
  AddPut(t.mutable_success(), key, EncodeRoute(r), 0);
  AddRange(t.mutable_failure(), key);
  return t;
}

etcdpb::TxnRequest DeleteRouteTxn(const EtcdKeys& keys, const std::string& app, std::optional<int64_t> expected) {
  etcdpb::TxnRequest t;
  const std::string key = keys.Route(app);
  *t.add_compare() = Exists(key);
  if (expected) *t.add_compare() = ModIs(key, *expected);
  AddDelete(t.mutable_success(), key);
  AddRange(t.mutable_failure(), key);
  return t;
}

Result<int64_t> RouteTxnOutcome(const std::string& app, std::optional<int64_t> expected, bool is_delete,
                                const etcdpb::TxnResponse& r) {
  if (r.succeeded()) return r.header().revision();
  const auto& kvs = KvsOf(r, 0);
  const int64_t current = kvs.empty() ? 0 : kvs.Get(0).mod_revision();
  if (is_delete && current == 0) return ErrNoRoute(app);
  return ErrRouteRevision(app, current, expected.value_or(0));
}

etcdpb::RangeRequest RangeKey(const std::string& key) {
  etcdpb::RangeRequest r;
  r.set_key(key);
  return r;
}

etcdpb::RangeRequest RangePrefix(const std::string& prefix, int64_t limit, int64_t revision) {
  etcdpb::RangeRequest r;
  r.set_key(prefix);
  r.set_range_end(etcd::PrefixEnd(prefix));
  r.set_limit(limit);
  r.set_revision(revision);
  return r;
}

}  // namespace skyport::registry
