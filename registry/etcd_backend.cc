// EtcdBackend: construction, leases, routes, queries and metrics. The port
// and entry flows are in etcd_ports.cc, Watch in etcd_watchers.cc and
// etcd_shared_watch.cc.
#include "registry/etcd_backend.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "contract/route.h"
#include "core/log.h"
#include "core/names.h"
#include "core/prom_text.h"
#include "registry/errors.h"
#include "registry/etcd_plans.h"
#include "registry/etcd_watch_feed.h"
#include "registry/validate.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::registry {
namespace {

std::optional<int64_t> Expected(bool has, int64_t v) { return has ? std::optional<int64_t>(v) : std::nullopt; }

}  // namespace

EtcdBackend::EtcdBackend(std::shared_ptr<etcd::Client> client, EtcdBackendOptions opts, Clock* clock,
                         Random* random)
    : client_(std::move(client)),
      batcher_([c = client_.get()](etcdserverpb::TxnRequest t, TxnBatcher::Answer done) { c->Txn(std::move(t), std::move(done)); },
               opts.batch, clock),
      opts_(std::move(opts)),
      keys_(opts_.prefix),
      clock_(clock),
      random_(random) {
  if (opts_.watch_window > 0) {
    shared_ = std::make_unique<SharedWatch>(opts_.watch_window);
    StartShared();  // the reaper starts it again whenever it is down
  }
  reaper_ = std::thread([this] { ReapLoop(); });
  if (opts_.lease_sweep_ms > 0) sweeper_ = std::thread([this] { SweepLoop(); });
  LearnClusterId();
}

std::string EtcdBackend::StoreId() const {
  const uint64_t id = cluster_id_.load();
  return id == 0 ? std::string() : fmt::format("etcd-{:016x}-{}", id, keys_.root());
}

void EtcdBackend::LearnClusterId() {
  if (cluster_id_.load() != 0 || learning_cluster_id_.exchange(true)) return;
  etcdserverpb::RangeRequest r = RangeKey(keys_.root());
  r.set_count_only(true);
  Done done = Track([](const Status&) {});
  client_->Range(std::move(r), [this, done](auto got) {
    if (got.ok() && got->header().cluster_id() != 0) cluster_id_.store(got->header().cluster_id());
    learning_cluster_id_.store(false);
    done(Status::Ok());
  });
}

EtcdBackend::~EtcdBackend() {
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    std::unique_lock lock(mu_);
    stop_ = true;
    watchers.swap(watchers_);
  }
  cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  if (sweeper_.joinable()) sweeper_.join();
  watchers.clear();  // cancels their etcd watches
  if (shared_) TidyShared(true).clear();  // no shared update after this
  // Every call in flight ends within the client's request deadline.
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return inflight_ == 0; });
  }
  if (shared_) TidyShared(true).clear();  // what a call ending meanwhile left
}

Backend::Done EtcdBackend::Track(Done done, bool count_call) {
  {
    std::lock_guard lock(mu_);
    ++inflight_;
  }
  if (count_call) ++counters_.calls;
  return [this, done = std::move(done)](const Status& s) {
    done(s);
    std::lock_guard lock(mu_);
    if (--inflight_ == 0) cv_.notify_all();
  };
}

uint64_t EtcdBackend::NextRandom() {
  std::lock_guard lock(random_mu_);
  return random_->Next();
}

uint64_t EtcdBackend::NewId() { return 1 + NextRandom() % kMaxId; }

Status EtcdBackend::FromEtcd(const Status& s) {
  ++counters_.etcd_errors;
  const std::string& m = s.message();
  return Status::Unavailable(m.rfind("etcd", 0) == 0 ? m : "etcd: " + m);
}

Status EtcdBackend::Undecodable(const Status& s) {
  ++counters_.undecodable;
  log::Error("undecodable value in etcd", {{"error", s.message()}});
  return s;
}

void EtcdBackend::RangeAll(std::string prefix, int64_t revision, bool keys_only, Page page,
                           std::function<void(Status)> done) {
  std::string end = etcd::PrefixEnd(prefix);
  RangeSpan(std::move(prefix), std::move(end), revision, keys_only, std::move(page), std::move(done));
}

void EtcdBackend::RangeSpan(std::string key, std::string range_end, int64_t revision, bool keys_only, Page page,
                            std::function<void(Status)> done) {
  auto next = std::make_shared<std::function<void(std::string, int64_t)>>();
  *next = [this, end = std::move(range_end), keys_only, page = std::move(page), done = std::move(done),
           next](std::string from, int64_t rev) {
    etcdserverpb::RangeRequest r;
    r.set_key(from);
    r.set_range_end(end);
    r.set_revision(rev);
    r.set_limit(static_cast<int64_t>(opts_.snapshot_chunk));
    r.set_keys_only(keys_only);
    client_->Range(std::move(r), [this, page, done, next, rev](Result<etcdserverpb::RangeResponse> got) {
      if (!got.ok()) {
        *next = nullptr;  // ends the cycle next -> lambda -> next
        return done(got.status());
      }
      page(*got);
      const int64_t at = rev != 0 ? rev : got->header().revision();
      if (!got->more() || got->kvs().empty()) {
        *next = nullptr;
        return done(Status::Ok());
      }
      (*next)(got->kvs(got->kvs_size() - 1).key() + std::string(1, '\0'), at);
    });
  };
  (*next)(std::move(key), revision);
}

// --- Leases -------------------------------------------------------------------

void EtcdBackend::Grant(const v1::GrantRequest& req, v1::GrantResponse* resp, Done done) {
  done = Track(std::move(done));
  const uint32_t ttl = req.ttl_seconds();
  if (ttl > opts_.max_ttl_s) return done(ErrTtlTooLong(ttl, opts_.max_ttl_s));
  auto attempt = std::make_shared<std::function<void(int)>>();
  *attempt = [this, ttl, resp, done, attempt](int n) {
    const uint64_t id = NewId();
    etcdserverpb::LeaseGrantRequest g;
    g.set_id(static_cast<int64_t>(id));
    g.set_ttl(EtcdTtl(ttl));
    client_->LeaseGrant(std::move(g), [this, id, ttl, resp, done, attempt, n](auto granted) {
      if (!granted.ok()) {
        const bool taken = granted.status().code() == Code::kFailedPrecondition;
        if (taken && n + 1 < kMaxAttempts) {
          ++counters_.conflicts;  // that id is someone else's: another one
          return (*attempt)(n + 1);
        }
        *attempt = nullptr;
        if (granted.status().code() == Code::kUnavailable) {
          // The grant may have happened: a lease nobody will use must not linger
          // (a static one would live for centuries). Never when the id was
          // taken: that lease is another holder's.
          etcdserverpb::LeaseRevokeRequest rv;
          rv.set_id(static_cast<int64_t>(id));
          client_->LeaseRevoke(std::move(rv), [](auto) {});
        }
        return done(FromEtcd(granted.status()));
      }
      *attempt = nullptr;
      client_->Txn(GrantTxn(keys_, id, ttl), [this, id, ttl, resp, done](auto put) {
        if (!put.ok() || !put->succeeded()) {
          etcdserverpb::LeaseRevokeRequest rv;
          rv.set_id(static_cast<int64_t>(id));
          client_->LeaseRevoke(std::move(rv), [](auto) {});
          return done(put.ok() ? FromEtcd(Status::Internal(fmt::format("lease record {} exists already", id)))
                               : FromEtcd(put.status()));
        }
        resp->set_lease_id(id);
        resp->set_ttl_seconds(ttl);
        resp->set_revision(put->header().revision());
        done(Status::Ok());
      });
    });
  };
  (*attempt)(0);
}

void EtcdBackend::KeepAlive(const v1::KeepAliveRequest& req, v1::KeepAliveResponse* resp, Done done) {
  done = Track(std::move(done));
  const uint64_t id = req.lease_id();
  if (id == 0 || id > kMaxId) return done(ErrLeaseExpired(id));
  // Only Skyport's leases: a token holder must not keep other etcd leases
  // (a hub's leadership) alive through the registry.
  client_->Range(RangeKey(keys_.Lease(id)), [this, id, resp, done](auto rec) {
    if (!rec.ok()) return done(FromEtcd(rec.status()));
    if (rec->kvs().empty()) return done(ErrLeaseExpired(id));
    client_->LeaseKeepAlive(static_cast<int64_t>(id), [this, id, resp, done](auto ka) {
      if (!ka.ok()) return done(ka.status().code() == Code::kNotFound ? ErrLeaseExpired(id) : FromEtcd(ka.status()));
      auto ttl = KeepAliveOutcome(id, ka->ttl(), opts_.max_ttl_s);
      if (ttl.ok()) resp->set_ttl_seconds(*ttl);
      done(ttl.status());
    });
  });
}

// The lease record goes first (RetireLeaseRecordTxn: Allocate and Register
// compare that it exists, KeepAlive needs it), so the keys counted after it
// are exactly what the revoke removes: an entry registered meanwhile was
// either attached before (and is counted) or refused. A registry killed
// between the two steps leaves a lease that no holder can keep alive: etcd
// expires it, or (static) the orphan sweep revokes it.
void EtcdBackend::Revoke(const v1::RevokeRequest& req, v1::RevokeResponse* resp, Done done) {
  done = Track(std::move(done));
  const uint64_t id = req.lease_id();
  if (id == 0 || id > kMaxId) return done(ErrLeaseGone(id));
  client_->Range(RangeKey(keys_.Lease(id)), [this, id, resp, done](auto rec) {
    if (!rec.ok()) return done(FromEtcd(rec.status()));
    if (rec->kvs().empty()) return done(ErrLeaseGone(id));
    client_->Txn(RetireLeaseRecordTxn(keys_, id, rec->kvs(0).mod_revision()), [this, id, resp, done](auto gone) {
      if (!gone.ok()) return done(FromEtcd(gone.status()));
      if (!gone->succeeded()) {  // only a restore or a concurrent Revoke changes a record
        ++counters_.conflicts;
        return done(ErrLeaseGone(id));
      }
      etcdserverpb::LeaseTimeToLiveRequest t;
      t.set_id(static_cast<int64_t>(id));
      t.set_keys(true);
      client_->LeaseTimeToLive(std::move(t), [this, id, resp, done](auto ttl) {
        if (!ttl.ok()) return done(ttl.status().code() == Code::kNotFound ? ErrLeaseGone(id) : FromEtcd(ttl.status()));
        if (ttl->ttl() < 0) return done(ErrLeaseGone(id));
        const auto removed = static_cast<uint32_t>(EndpointKeysOf(keys_, ttl->keys()).size());
        etcdserverpb::LeaseRevokeRequest rv;
        rv.set_id(static_cast<int64_t>(id));
        client_->LeaseRevoke(std::move(rv), [this, id, removed, resp, done](auto revoked) {
          if (!revoked.ok())
            return done(revoked.status().code() == Code::kNotFound ? ErrLeaseGone(id) : FromEtcd(revoked.status()));
          resp->set_removed(removed);
          resp->set_revision(revoked->header().revision());
          done(Status::Ok());
        });
      });
    });
  });
}

// --- Routes -------------------------------------------------------------------

void EtcdBackend::GetRoute(const v1::GetRouteRequest& req, v1::RouteConfig* resp, Done done) {
  done = Track(std::move(done));
  if (Status s = ValidateName("app", req.app()); !s.ok()) return done(s);
  client_->Range(RangeKey(keys_.Route(req.app())), [this, app = req.app(), resp, done](auto got) {
    if (!got.ok()) return done(FromEtcd(got.status()));
    if (got->kvs().empty()) return done(ErrNoRoute(app));
    auto r = DecodeRoute(keys_, got->kvs(0));
    if (!r.ok()) return done(Undecodable(r.status()));
    *resp = std::move(*r);
    done(Status::Ok());
  });
}

void EtcdBackend::PutRoute(const v1::PutRouteRequest& req, v1::PutRouteResponse* resp, Done done) {
  done = Track(std::move(done));
  if (Status s = contract::ValidateRoute(req.route()); !s.ok()) return done(s);
  auto expected = Expected(req.has_expected_revision(), req.expected_revision());
  client_->Txn(PutRouteTxn(keys_, req.route(), expected), [this, app = req.route().app(), expected, resp, done](auto r) {
    if (!r.ok()) return done(FromEtcd(r.status()));
    auto rev = RouteTxnOutcome(app, expected, false, *r);
    if (rev.ok()) resp->set_revision(*rev);
    done(rev.status());
  });
}

void EtcdBackend::DeleteRoute(const v1::DeleteRouteRequest& req, v1::DeleteRouteResponse* resp, Done done) {
  done = Track(std::move(done));
  if (Status s = ValidateName("app", req.app()); !s.ok()) return done(s);
  auto expected = Expected(req.has_expected_revision(), req.expected_revision());
  client_->Txn(DeleteRouteTxn(keys_, req.app(), expected), [this, app = req.app(), expected, resp, done](auto r) {
    if (!r.ok()) return done(FromEtcd(r.status()));
    auto rev = RouteTxnOutcome(app, expected, true, *r);
    if (rev.ok()) resp->set_revision(*rev);
    done(rev.status());
  });
}

// --- Queries ------------------------------------------------------------------

void EtcdBackend::Query(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done) {
  done = Track(std::move(done));
  if (Status s = ValidateQuery(req.app(), req.commit_prefix(), req.role()); !s.ok()) return done(s);
  if (req.lease_id() != 0) return QueryLease(req, resp, std::move(done));
  auto bad = std::make_shared<Status>();
  RangeAll(
      keys_.EndpointPrefix(), 0, false,
      [this, &req, resp, bad](const etcdserverpb::RangeResponse& page) {
        if (resp->revision() == 0) resp->set_revision(page.header().revision());
        for (const auto& kv : page.kvs()) {
          auto ep = DecodeEndpoint(keys_, kv);
          if (!ep.ok()) {
            if (bad->ok()) *bad = ep.status();
            continue;
          }
          if (MatchesQuery(*ep, req.app(), req.commit_prefix(), req.role())) *resp->add_endpoints() = std::move(*ep);
        }
      },
      [this, bad, done](Status s) { done(!s.ok() ? FromEtcd(s) : bad->ok() ? Status::Ok() : Undecodable(*bad)); });
}

void EtcdBackend::QueryLease(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done) {
  const uint64_t id = req.lease_id();
  if (id > kMaxId) return done(ErrLeaseExpired(id));
  etcdserverpb::LeaseTimeToLiveRequest t;
  t.set_id(static_cast<int64_t>(id));
  t.set_keys(true);
  client_->LeaseTimeToLive(std::move(t), [this, &req, id, resp, done](auto ttl) {
    if (!ttl.ok()) return done(ttl.status().code() == Code::kNotFound ? ErrLeaseExpired(id) : FromEtcd(ttl.status()));
    const auto& held = ttl->keys();
    if (ttl->ttl() < 0 || std::find(held.begin(), held.end(), keys_.Lease(id)) == held.end())
      return done(ErrLeaseExpired(id));  // as KeepAlive: a lease without its record is gone
    resp->set_revision(ttl->header().revision());
    QueryLeaseRead(req, resp, done, std::make_shared<const std::vector<std::string>>(EndpointKeysOf(keys_, ttl->keys())),
                   0);
  });
}

void EtcdBackend::QueryLeaseRead(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done,
                                 std::shared_ptr<const std::vector<std::string>> keys, size_t from) {
  constexpr size_t kPerTxn = 64;  // etcd's --max-txn-ops is 128 by default
  if (from >= keys->size()) return done(Status::Ok());
  const size_t to = std::min(keys->size(), from + kPerTxn);
  etcdserverpb::TxnRequest t;
  for (size_t i = from; i < to; ++i) *t.add_success()->mutable_request_range() = RangeKey((*keys)[i]);
  client_->Txn(std::move(t), [this, &req, resp, done, keys, to](auto got) {
    if (!got.ok()) return done(FromEtcd(got.status()));
    resp->set_revision(got->header().revision());
    for (const auto& op : got->responses())
      for (const auto& kv : op.response_range().kvs()) {  // a key gone since the lease listed it: none
        auto ep = DecodeEndpoint(keys_, kv);
        if (!ep.ok()) return done(Undecodable(ep.status()));
        if (ep->lease_id() == req.lease_id() && MatchesQuery(*ep, req.app(), req.commit_prefix(), req.role()))
          *resp->add_endpoints() = std::move(*ep);
      }
    QueryLeaseRead(req, resp, done, keys, to);
  });
}

void EtcdBackend::Show(const v1::ShowRequest&, v1::ShowResponse* resp, Done done) {
  done = Track(std::move(done));
  auto bad = std::make_shared<Status>();
  auto endpoints = [this, resp, bad](const etcdserverpb::RangeResponse& page) {
    for (const auto& kv : page.kvs()) {
      auto ep = DecodeEndpoint(keys_, kv);
      if (ep.ok()) *resp->add_endpoints() = std::move(*ep);
      else if (bad->ok()) *bad = ep.status();
    }
  };
  // Routes first; the endpoints at the routes' revision: one consistent view.
  RangeAll(
      keys_.RoutePrefix(), 0, false,
      [this, resp, bad](const etcdserverpb::RangeResponse& page) {
        if (resp->revision() == 0) resp->set_revision(page.header().revision());
        for (const auto& kv : page.kvs()) {
          auto r = DecodeRoute(keys_, kv);
          if (r.ok()) *resp->add_routes() = std::move(*r);
          else if (bad->ok()) *bad = r.status();
        }
      },
      [this, resp, bad, done, endpoints](Status s) {
        if (!s.ok()) return done(FromEtcd(s));
        RangeAll(keys_.EndpointPrefix(), resp->revision(), false, endpoints, [this, bad, done](Status s2) {
          done(!s2.ok() ? FromEtcd(s2) : bad->ok() ? Status::Ok() : Undecodable(*bad));
        });
      });
}

// --- Metrics ------------------------------------------------------------------

std::string EtcdBackend::Metrics() const {
  PromText out;
  out.Counter("skyport_registry_calls_total", "RPCs handed to the store.", counters_.calls.load());
  out.Counter("skyport_registry_etcd_conflicts_total",
              "etcd transactions that lost a race (decided again on fresh reads).", counters_.conflicts.load());
  out.Counter("skyport_registry_etcd_one_trip_registers_total",
              "Registers done in one etcd Txn (a new entry on a free port or on the lease's fresh allocation); the "
              "rest read first.",
              counters_.one_trip_registers.load());
  out.Counter("skyport_registry_etcd_errors_total", "Calls answered UNAVAILABLE because etcd failed.",
              counters_.etcd_errors.load());
  out.Counter("skyport_registry_etcd_undecodable_total", "Values in etcd that did not decode (skipped or refused).",
              counters_.undecodable.load());
  out.Counter("skyport_registry_etcd_port_scans_total",
              "Allocations that scanned a host's ports after random picks collided.",
              counters_.slow_port_scans.load());
  out.Counter("skyport_registry_watch_snapshots_total", "Watchers greeted with a snapshot.",
              counters_.watch_snapshots.load());
  out.Counter("skyport_registry_watch_resumes_total", "Watchers resumed from their revision.",
              counters_.watch_resumes.load());
  out.Counter("skyport_registry_watch_ends_total",
              "Watch streams ended by the registry (etcd watch ended or compacted; the client resumes).",
              counters_.watch_ends.load());
  out.Counter("skyport_registry_watch_prev_reads_total",
              "etcd reads of deleted entries' values for watchers (one per few keys, or one per mass delete).",
              counters_.watch_prev_reads.load());
  out.Counter("skyport_registry_watch_backlog_ends_total",
              "Watch streams ended because etcd's updates queued behind those reads past the bound.",
              counters_.watch_backlog_ends.load());
  out.Counter("skyport_registry_etcd_orphan_leases_total",
              "Static leases a killed registry left without their record: revoked (no entries) or given it back.",
              counters_.orphans_revoked.load() + counters_.orphans_restored.load());
  out.Counter("skyport_registry_watch_window_joins_total",
              "Watchers served by the shared etcd watch: its window held every change after their snapshot or "
              "resume revision.",
              counters_.window_joins.load());
  out.Counter("skyport_registry_watch_window_fallbacks_total",
              "Watchers given an etcd watch of their own: their revision was older than the window "
              "(--watch-window), or the shared watch could not start.",
              counters_.window_fallbacks.load());
  out.Counter("skyport_registry_watch_shared_reopens_total",
              "Times etcd ended the shared watch and it was opened again from its last revision (watchers kept).",
              counters_.shared_reopens.load());
  out.Counter("skyport_registry_watch_shared_resets_total",
              "Times the shared watch started afresh (compacted, etcd behind it, or re-opens that failed): its "
              "watchers were ended and resume by revision.",
              counters_.shared_resets.load());
  {
    std::lock_guard lock(mu_);
    out.Gauge("skyport_registry_watchers", "Connected watchers.", watchers_.size());
  }
  if (shared_) {
    std::lock_guard lock(shared_->mu);
    out.Gauge("skyport_registry_watch_window_events", "Changes held in the shared watch's window (bound: "
              "--watch-window).", shared_->window.events());
    out.Gauge("skyport_registry_watch_window_updates", "etcd watch updates holding them.",
              shared_->window.updates());
    out.Gauge("skyport_registry_watch_window_floor_revision",
              "The window holds every change after this revision: a watcher resuming from older gets its own "
              "etcd watch.",
              shared_->window.floor());
    out.Gauge("skyport_registry_watch_shared_watchers", "Watchers following the shared etcd watch.",
              shared_->joined.size());
  }
  batcher_.WriteMetrics(out);
  client_->WriteMetrics(out);
  return out.Take();
}

}  // namespace skyport::registry
