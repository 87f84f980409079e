// EtcdBackend: ports and entries — Allocate, ReleasePort, Register and
// Deregister, each a few reads, a decision (etcd_plans.h) and a Txn whose
// compares hold what was read; a lost race is decided again.
#include <fmt/format.h>

#include "core/log.h"
#include "core/names.h"
#include "registry/errors.h"
#include "registry/etcd_backend.h"
#include "registry/etcd_plans.h"
#include "registry/validate.h"

namespace skyport::registry {

struct EtcdBackend::AllocateCall {
  const v1::AllocateRequest& req;
  v1::AllocateResponse* resp;
  Done done;
  std::vector<uint32_t> avoid{};
  int attempts = 0;      // reservation Txns sent
  int random_tries = 0;  // random candidates tried
  bool reserve = false;  // req.port != 0
  int64_t revision = 0;  // of the latest read
  std::optional<int64_t> index_mod{};  // ReservePortTxn's expectation of the identity index
  bool index_read = false;           // the identity index was read (AllocateFromIndex)
  std::optional<Versioned<Allocation>> drop{};
};

struct EtcdBackend::RegisterCall {
  const v1::Endpoint& ep;
  v1::RegisterResponse* resp;
  Done done;
  int attempts = 0;
  RegisterRead read{};
};

namespace {

Status KeptChanging(std::string_view what) {
  return Status::Unavailable(
      fmt::format("etcd: {} kept changing under {} tries; try again", what, EtcdBackend::kMaxAttempts));
}

}  // namespace

// --- Allocate -----------------------------------------------------------------

void EtcdBackend::Allocate(const v1::AllocateRequest& req, v1::AllocateResponse* resp, Done done) {
  done = Track(std::move(done));
  if (Status s = ValidateAllocate(req); !s.ok()) return done(s);
  if (req.lease_id() > kMaxId) return done(ErrUnknownLease(req.lease_id()));
  auto c = std::make_shared<AllocateCall>(AllocateCall{req, resp, std::move(done)});
  c->avoid.assign(req.avoid().begin(), req.avoid().end());
  c->reserve = req.port() != 0;
  if (c->reserve) return AllocateReadReserved(std::move(c));
  // A new identity (the common case) is one Txn: a random free port and the
  // identity index, which must be absent; a retried Allocate meets its index.
  c->index_mod = 0;
  AllocatePick(std::move(c));
}

void EtcdBackend::AllocateReadReserved(std::shared_ptr<AllocateCall> c) {
  etcdserverpb::TxnRequest t;
  *t.add_success()->mutable_request_range() = RangeKey(keys_.Lease(c->req.lease_id()));
  *t.add_success()->mutable_request_range() = RangeKey(keys_.Port(c->req.host(), c->req.port()));
  client_->Txn(std::move(t), [this, c](auto got) {
    if (!got.ok()) return c->done(FromEtcd(got.status()));
    if (got->responses_size() != 2 || got->responses(0).response_range().kvs().empty())
      return c->done(ErrUnknownLease(c->req.lease_id()));
    c->revision = got->header().revision();
    auto at_port = FirstAllocation(keys_, got->responses(1).response_range().kvs());
    if (!at_port.ok()) return c->done(Undecodable(at_port.status()));
    AllocateDecide(c, DecideAllocate(c->req, {}, *at_port ? std::optional<Allocation>((*at_port)->value) : std::nullopt));
  });
}

void EtcdBackend::AllocateFromIndex(std::shared_ptr<AllocateCall> c, std::optional<Versioned<Allocation>> index) {
  c->drop.reset();
  c->index_read = true;
  if (!index) {
    c->index_mod = 0;
    return AllocatePick(std::move(c));
  }
  c->index_mod = index->mod_revision;  // a new pick overwrites it
  client_->Range(RangeKey(keys_.Port(index->value.host, index->value.port)), [this, c, index](auto got) {
    if (!got.ok()) return c->done(FromEtcd(got.status()));
    c->revision = got->header().revision();
    auto port = FirstAllocation(keys_, got->kvs());
    if (!port.ok()) return c->done(Undecodable(port.status()));
    std::vector<Versioned<Allocation>> held;
    // The index is only trusted when its port still says the same.
    if (*port && EncodeAllocation((*port)->value) == EncodeAllocation(index->value)) held.push_back(std::move(**port));
    AllocateDecide(c, DecideAllocate(c->req, held, std::nullopt));
  });
}

void EtcdBackend::AllocateDecide(std::shared_ptr<AllocateCall> c, AllocateDecision d) {
  switch (d.kind) {
    case AllocateDecision::kAnswer:
      c->resp->set_port(d.port);
      c->resp->set_revision(c->revision);
      return c->done(Status::Ok());
    case AllocateDecision::kRefuse:
      return c->done(d.error);
    case AllocateDecision::kReserve:
      return AllocateTry(c, d.port);
    case AllocateDecision::kPick:
      c->drop = std::move(d.drop);
      return AllocatePick(c);
  }
}

void EtcdBackend::AllocatePick(std::shared_ptr<AllocateCall> c) {
  if (c->random_tries >= kRandomPortTries) return AllocateScan(c);
  ++c->random_tries;
  const uint32_t p = CandidatePort(opts_.port_lo, opts_.port_hi, NextRandom(), c->avoid);
  if (p == 0) return AllocateScan(c);  // everything avoided: the scan says so exactly
  AllocateTry(c, p);
}

void EtcdBackend::AllocateScan(std::shared_ptr<AllocateCall> c) {
  ++counters_.slow_port_scans;
  auto used = std::make_shared<PortAllocator>(opts_.port_lo, opts_.port_hi);
  RangeAll(
      keys_.HostPorts(c->req.host()), 0, true,
      [this, used](const etcdserverpb::RangeResponse& page) {
        for (const auto& kv : page.kvs()) {
          ParsedKey k = keys_.Parse(kv.key());
          if (k.kind != KeyKind::kPort) continue;
          Allocation taken;
          taken.host = k.host;
          taken.port = k.port;
          used->Put(std::move(taken));
        }
      },
      [this, c, used](Status s) {
        if (!s.ok()) return c->done(FromEtcd(s));
        auto p = used->PickFree(c->req.host(), NextRandom(), c->avoid);
        if (p.ok()) return AllocateTry(c, *p);
        // RegistryState answers a retried Allocate before it looks for a free
        // port: when none is free or unavoided, the identity's own may still be
        // (an explicit reservation outside the range). Only a reservation Txn
        // shows the index, and none was sent.
        if (!c->reserve && !c->index_read) return AllocateReadIndex(c, p.status());
        c->done(p.status());
      });
}

void EtcdBackend::AllocateReadIndex(std::shared_ptr<AllocateCall> c, Status none_free) {
  client_->Range(RangeKey(keys_.Unregistered(AllocationFor(c->req, 0))), [this, c, none_free](auto got) {
    if (!got.ok()) return c->done(FromEtcd(got.status()));
    if (got->kvs().empty()) return c->done(none_free);
    auto index = DecodeUnregistered(keys_, got->kvs(0));
    if (!index.ok()) return c->done(Undecodable(index.status()));
    AllocateFromIndex(c, Versioned<Allocation>{std::move(*index), got->kvs(0).mod_revision()});
  });
}

void EtcdBackend::AllocateTry(std::shared_ptr<AllocateCall> c, uint32_t port) {
  if (++c->attempts > kMaxAttempts) return c->done(KeptChanging(fmt::format("the ports of {}", c->req.host())));
  batcher_.Txn(ReservePortTxn(keys_, AllocationFor(c->req, port), c->drop, c->index_mod), [this, c, port](auto r) {
    if (!r.ok()) return c->done(FromEtcd(r.status()));
    if (r->succeeded()) {
      c->resp->set_port(port);
      c->resp->set_revision(r->header().revision());
      return c->done(Status::Ok());
    }
    const ReserveMiss miss = ReadReserveMiss(*r, c->index_mod);
    if (miss == ReserveMiss::kLeaseGone) return c->done(ErrUnknownLease(c->req.lease_id()));
    if (miss == ReserveMiss::kPortTaken) return c->reserve ? AllocateReadReserved(c) : AllocatePick(c);
    if (c->reserve) return AllocateReadReserved(c);  // the port changed between the read and the Txn
    // The identity index (a retried Allocate, or one racing it) or the
    // dropped port changed: decide again on the index this Txn read.
    if (miss == ReserveMiss::kChanged) ++counters_.conflicts;
    auto index = ReadIndexAfterMiss(keys_, *r);
    if (!index.ok()) return c->done(Undecodable(index.status()));
    c->revision = r->header().revision();
    AllocateFromIndex(c, std::move(*index));
  });
}

// --- ReleasePort --------------------------------------------------------------

void EtcdBackend::ReleasePort(const v1::ReleasePortRequest& req, v1::ReleasePortResponse*, Done done) {
  done = Track(std::move(done));
  if (Status s = ValidateHost("host", req.host()); !s.ok()) return done(s);
  if (Status s = ValidatePort("port", req.port()); !s.ok()) return done(s);
  ReleaseRound(req, std::move(done), 0);
}

void EtcdBackend::ReleaseRound(const v1::ReleasePortRequest& req, Done done, int attempt) {
  if (attempt >= kMaxAttempts) return done(KeptChanging("the allocation"));
  client_->Range(RangeKey(keys_.Port(req.host(), req.port())), [this, &req, done, attempt](auto got) {
    if (!got.ok()) return done(FromEtcd(got.status()));
    auto read = FirstAllocation(keys_, got->kvs());
    if (!read.ok()) return done(Undecodable(read.status()));
    const std::optional<Allocation> a = *read ? std::optional<Allocation>((*read)->value) : std::nullopt;
    if (Status s = CheckRelease(a, req.host(), req.port(), req.lease_id()); !s.ok()) return done(s);
    client_->Txn(ReleaseTxn(keys_, *a, (*read)->mod_revision), [this, &req, done, attempt](auto r) {
      if (!r.ok()) return done(FromEtcd(r.status()));
      if (r->succeeded()) return done(Status::Ok());
      ++counters_.conflicts;
      ReleaseRound(req, done, attempt + 1);
    });
  });
}

// --- Register -----------------------------------------------------------------

void EtcdBackend::Register(const v1::RegisterRequest& req, v1::RegisterResponse* resp, Done done) {
  done = Track(std::move(done));
  if (Status s = ValidateEndpoint(req.endpoint()); !s.ok()) return done(s);
  if (req.endpoint().lease_id() > kMaxId) return done(ErrUnknownLease(req.endpoint().lease_id()));
  auto c = std::make_shared<RegisterCall>(RegisterCall{req.endpoint(), resp, std::move(done)});
  const uint64_t id = NewId();
  batcher_.Txn(OneTripRegisterTxn(keys_, c->ep, id, clock_->WallMs()), [this, c, id](auto r) {
    if (!r.ok()) return c->done(FromEtcd(r.status()));
    if (OneTripRegistered(*r)) {
      ++counters_.one_trip_registers;
      c->resp->set_id(id);
      c->resp->set_revision(r->header().revision());
      return c->done(Status::Ok());
    }
    RegisterRound(c);  // an update, a refusal, a lease gone: read, then decide
  });
}

void EtcdBackend::RegisterRound(std::shared_ptr<RegisterCall> c) {
  if (++c->attempts > kMaxAttempts) return c->done(KeptChanging("the entry's port"));
  client_->Txn(RegisterReadTxn(keys_, c->ep), [this, c](auto got) {
    if (!got.ok()) return c->done(FromEtcd(got.status()));
    auto read = ParseRegisterRead(keys_, *got);
    if (!read.ok()) return c->done(Undecodable(read.status()));
    c->read = std::move(*read);
    const auto& alloc = c->read.alloc;
    if (!alloc || alloc->value.endpoint_id == 0 || alloc->value.lease_id != c->ep.lease_id())
      return RegisterWrite(c);
    // An update: the entry on the port keeps its id and first registration time.
    client_->Range(RangeKey(keys_.Endpoint(alloc->value.endpoint_id)), [this, c](auto old) {
      if (!old.ok()) return c->done(FromEtcd(old.status()));
      if (!old->kvs().empty()) {
        auto ep = DecodeEndpoint(keys_, old->kvs(0));
        if (!ep.ok()) return c->done(Undecodable(ep.status()));
        c->read.old = Versioned<v1::Endpoint>{std::move(*ep), old->kvs(0).mod_revision()};
      }
      RegisterWrite(c);
    });
  });
}

void EtcdBackend::RegisterWrite(std::shared_ptr<RegisterCall> c) {
  auto plan = PlanRegister(keys_, c->ep, c->read, NewId(), clock_->WallMs());
  if (!plan.ok()) return c->done(plan.status());
  const uint64_t id = plan->id;
  batcher_.Txn(std::move(plan->txn), [this, c, id](auto r) {
    if (!r.ok()) return c->done(FromEtcd(r.status()));
    if (!r->succeeded()) {
      ++counters_.conflicts;
      return RegisterRound(c);
    }
    c->resp->set_id(id);
    c->resp->set_revision(r->header().revision());
    c->done(Status::Ok());
  });
}

// --- Deregister ---------------------------------------------------------------

void EtcdBackend::Deregister(const v1::DeregisterRequest& req, v1::DeregisterResponse* resp, Done done) {
  done = Track(std::move(done));
  if (req.id() == 0 || req.id() > kMaxId) return done(ErrNoEntry(req.id()));
  DeregisterRound(req.id(), resp, std::move(done), 0);
}

void EtcdBackend::DeregisterRound(uint64_t id, v1::DeregisterResponse* resp, Done done, int attempt) {
  if (attempt >= kMaxAttempts) return done(KeptChanging("the entry"));
  client_->Range(RangeKey(keys_.Endpoint(id)), [this, id, resp, done, attempt](auto got) {
    if (!got.ok()) return done(FromEtcd(got.status()));
    if (got->kvs().empty()) return done(ErrNoEntry(id));
    auto ep = DecodeEndpoint(keys_, got->kvs(0));
    if (!ep.ok()) return done(Undecodable(ep.status()));
    const uint64_t lease = ep->lease_id();
    auto v = std::make_shared<Versioned<v1::Endpoint>>(Versioned<v1::Endpoint>{std::move(*ep), got->kvs(0).mod_revision()});
    client_->Range(RangeKey(keys_.Port(v->value.host(), v->value.port())), [this, id, lease, v, resp, done, attempt](auto p) {
      if (!p.ok()) return done(FromEtcd(p.status()));
      auto port = FirstAllocation(keys_, p->kvs());
      if (!port.ok()) return done(Undecodable(port.status()));
      client_->Txn(DeregisterTxn(keys_, *v, *port), [this, id, lease, resp, done, attempt](auto r) {
        if (!r.ok()) return done(FromEtcd(r.status()));
        if (!r->succeeded()) {
          if (r->responses_size() > 0 && r->responses(0).response_range().kvs().empty()) return done(ErrNoEntry(id));
          ++counters_.conflicts;
          return DeregisterRound(id, resp, done, attempt + 1);
        }
        resp->set_revision(r->header().revision());
        EndStaticLease(lease, [done] { done(Status::Ok()); });
      });
    });
  });
}

// A lease that never expires would otherwise outlive its last entry forever
// (RegistryState::Deregister). Best effort: a failure is logged, and the
// lease then holds nothing. The order (etcd_plans.h RetireLeaseRecordTxn)
// keeps an entry registered meanwhile: counting the keys first and revoking
// after would remove it after its Register was acknowledged.
void EtcdBackend::EndStaticLease(uint64_t lease_id, std::function<void()> then) {
  client_->Range(RangeKey(keys_.Lease(lease_id)), [this, lease_id, then](auto rec) {
    if (!rec.ok() || rec->kvs().empty()) return then();
    auto lease = DecodeLease(keys_, rec->kvs(0));
    if (!lease.ok() || lease->ttl_seconds() != 0) return then();
    client_->Txn(RetireLeaseRecordTxn(keys_, lease_id, rec->kvs(0).mod_revision()), [this, lease_id, then](auto gone) {
      if (!gone.ok() || !gone->succeeded()) return then();  // changed meanwhile: it is someone's again
      etcdserverpb::LeaseTimeToLiveRequest t;
      t.set_id(static_cast<int64_t>(lease_id));
      t.set_keys(true);
      client_->LeaseTimeToLive(std::move(t), [this, lease_id, then](auto ttl) {
        if (!ttl.ok()) {
          log::Warn("could not end a static lease after its last entry",
                    {{"lease_id", static_cast<int64_t>(lease_id)}, {"error", ttl.status().message()}});
          return then();
        }
        if (ttl->keys_size() > 0) {
          // An entry attached before the record went: the lease is in use.
          client_->Txn(RestoreLeaseTxn(keys_, lease_id), [lease_id, then](auto back) {
            if (!back.ok())
              log::Warn("could not restore a static lease's record",
                        {{"lease_id", static_cast<int64_t>(lease_id)}, {"error", back.status().message()}});
            then();
          });
          return;
        }
        etcdserverpb::LeaseRevokeRequest rv;
        rv.set_id(static_cast<int64_t>(lease_id));
        client_->LeaseRevoke(std::move(rv), [lease_id, then](auto revoked) {
          if (!revoked.ok() && revoked.status().code() != Code::kNotFound)
            log::Warn("could not end a static lease after its last entry",
                      {{"lease_id", static_cast<int64_t>(lease_id)}, {"error", revoked.status().message()}});
          then();
        });
      });
    });
  });
}

}  // namespace skyport::registry
