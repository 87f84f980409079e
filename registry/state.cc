#include "registry/state.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/names.h"
#include "contract/route.h"
#include "registry/errors.h"
#include "registry/snapshot_chunker.h"
#include "registry/validate.h"

namespace skyport::registry {
namespace {


}  // namespace

RegistryState::RegistryState(StateOptions opts)
    : opts_(opts), ports_(opts.port_lo, opts.port_hi), log_(opts.history) {}

void RegistryState::Emit(v1::Event e, Changes& ch) {
  log_.Append(e);
  ch.events.push_back(std::move(e));
}

void RegistryState::IndexEndpoint(const v1::Endpoint& ep) { by_app_[ep.app()].insert(ep.id()); }

Result<v1::GrantResponse> RegistryState::Grant(uint32_t ttl_s, int64_t now_ms, Changes& ch) {
  if (ttl_s > opts_.max_ttl_s)
    return ErrTtlTooLong(ttl_s, opts_.max_ttl_s);
  uint64_t id = next_lease_id_++;
  leases_.Add(id, ttl_s, now_ms);
  ch.leases.insert(id);
  v1::GrantResponse resp;
  resp.set_lease_id(id);
  resp.set_ttl_seconds(ttl_s);
  resp.set_revision(revision_);
  return resp;
}

Result<uint32_t> RegistryState::KeepAlive(uint64_t lease_id, int64_t now_ms) {
  return leases_.KeepAlive(lease_id, now_ms);
}

void RegistryState::RemoveEndpoint(uint64_t id, int64_t rev, Changes& ch) {
  auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return;
  v1::Endpoint ep = std::move(it->second);
  endpoints_.erase(it);
  auto app = by_app_.find(ep.app());
  if (app != by_app_.end()) {
    app->second.erase(id);
    if (app->second.empty()) by_app_.erase(app);
  }
  PortKey key{ep.host(), ep.port()};
  // The port goes with its entry, never from under another one.
  const Allocation* on_port = ports_.Find(key);
  const bool port_is_ours = on_port != nullptr && on_port->endpoint_id == id;
  if (port_is_ours) ports_.Erase(key);
  if (Lease* l = leases_.Find(ep.lease_id())) {
    l->endpoints.erase(id);
    if (port_is_ours) l->allocations.erase(key);
  }
  ch.endpoints.insert(id);
  ch.allocations.insert(key);
  v1::Event e;
  e.set_type(v1::Event::ENDPOINT_DELETE);
  e.set_revision(rev);
  ep.set_revision(rev);
  *e.mutable_endpoint() = std::move(ep);
  Emit(std::move(e), ch);
}

Result<uint32_t> RegistryState::Revoke(uint64_t lease_id, Changes& ch) {
  Lease* l = leases_.Find(lease_id);
  if (l == nullptr)
    return ErrLeaseGone(lease_id);
  std::vector<uint64_t> eps(l->endpoints.begin(), l->endpoints.end());
  std::vector<PortKey> allocs(l->allocations.begin(), l->allocations.end());
  const int64_t rev = revision_ + 1;
  for (uint64_t id : eps) RemoveEndpoint(id, rev, ch);
  for (const PortKey& k : allocs) {
    ports_.Erase(k);
    ch.allocations.insert(k);
  }
  if (!eps.empty()) revision_ = rev;
  leases_.Erase(lease_id);
  ch.leases.insert(lease_id);
  return static_cast<uint32_t>(eps.size());
}

size_t RegistryState::ExpireLeases(int64_t now_ms, Changes& ch) {
  auto expired = leases_.Expired(now_ms);
  for (uint64_t id : expired) (void)Revoke(id, ch);
  return expired.size();
}

Result<uint32_t> RegistryState::Allocate(const v1::AllocateRequest& req, uint64_t random, Changes& ch) {
  if (Status s = ValidateAllocate(req); !s.ok()) return s;
  Lease* lease = leases_.Find(req.lease_id());
  if (lease == nullptr) return ErrUnknownLease(req.lease_id());
  Allocation a;
  a.host = req.host();
  a.lease_id = req.lease_id();
  SetIdentity(a, req);
  if (req.port() != 0) {
    // A specific port: e.g. a holder that lost its lease re-reserving the
    // port its process still listens on.
    if (const Allocation* live = ports_.Find({a.host, req.port()})) {
      if (live->lease_id == a.lease_id) return live->port;
      return ErrPortLive("port", *live);
    }
    a.port = req.port();
  } else {
    const std::vector<uint32_t> avoid(req.avoid().begin(), req.avoid().end());
    if (const Allocation* prior = ports_.FindPending(a)) {
      if (std::find(avoid.begin(), avoid.end(), prior->port) == avoid.end()) return prior->port;
      // The holder found a stranger on it: that allocation is of no use.
      PortKey stale{prior->host, prior->port};
      lease->allocations.erase(stale);
      ports_.Erase(stale);
      ch.allocations.insert(stale);
    }
    auto picked = ports_.PickFree(a.host, random, avoid);
    if (!picked.ok()) return picked.status();
    a.port = *picked;
  }
  const uint32_t port = a.port;
  PortKey key{a.host, a.port};
  ports_.Put(std::move(a));
  lease->allocations.insert(key);
  ch.allocations.insert(key);
  return port;
}

Status RegistryState::ReleasePort(const std::string& host, uint32_t port, uint64_t lease_id, Changes& ch) {
  if (Status s = ValidateHost("host", host); !s.ok()) return s;
  if (Status s = ValidatePort("port", port); !s.ok()) return s;
  const Allocation* a = ports_.Find({host, port});
  if (a == nullptr || a->lease_id != lease_id)
    return ErrNotAllocatedTo(host, port, lease_id);
  if (a->endpoint_id != 0)
    return ErrPortCarriesEntry(host, port, a->endpoint_id);
  if (Lease* l = leases_.Find(lease_id)) l->allocations.erase({host, port});
  ports_.Erase({host, port});
  ch.allocations.insert({host, port});
  return Status::Ok();
}

Result<uint64_t> RegistryState::Register(const v1::Endpoint& in, int64_t now_wall_ms, Changes& ch) {
  if (Status s = ValidateEndpoint(in); !s.ok()) return s;
  Lease* lease = leases_.Find(in.lease_id());
  if (lease == nullptr) return ErrUnknownLease(in.lease_id());
  PortKey key{in.host(), in.port()};
  const Allocation* alloc = ports_.Find(key);
  if (alloc != nullptr && alloc->lease_id != in.lease_id())
    return ErrPortLive("endpoint.port", *alloc);

  v1::Endpoint ep = in;
  const int64_t rev = revision_ + 1;
  uint64_t id = alloc != nullptr ? alloc->endpoint_id : 0;
  if (id != 0) {
    // Re-registration of the same host:port by the same holder: an update.
    const v1::Endpoint& old = endpoints_.at(id);
    ep.set_registered_unix_ms(old.registered_unix_ms());
    if (old.app() != ep.app()) {
      by_app_[old.app()].erase(id);
      if (by_app_[old.app()].empty()) by_app_.erase(old.app());
    }
  } else {
    id = next_endpoint_id_++;
    ep.set_registered_unix_ms(RegisteredAt(in, now_wall_ms));
  }
  ep.set_id(id);
  ep.set_revision(rev);
  Allocation fresh;
  if (alloc == nullptr) {
    fresh.host = key.host;
    fresh.port = key.port;
    fresh.lease_id = in.lease_id();
    alloc = &fresh;
  }
  Allocation updated = *alloc;
  SetIdentity(updated, ep);
  updated.endpoint_id = id;
  ports_.Put(std::move(updated));

  lease->endpoints.insert(id);
  lease->allocations.insert(key);
  endpoints_[id] = ep;
  IndexEndpoint(ep);
  revision_ = rev;
  ch.endpoints.insert(id);
  ch.allocations.insert(key);
  v1::Event e;
  e.set_type(v1::Event::ENDPOINT_PUT);
  e.set_revision(rev);
  *e.mutable_endpoint() = std::move(ep);
  Emit(std::move(e), ch);
  return id;
}

Status RegistryState::Deregister(uint64_t id, Changes& ch) {
  if (endpoints_.find(id) == endpoints_.end())
    return ErrNoEntry(id);
  const int64_t rev = revision_ + 1;
  const uint64_t lease_id = endpoints_.at(id).lease_id();
  RemoveEndpoint(id, rev, ch);
  revision_ = rev;
  // A lease that never expires would otherwise outlive its last entry forever.
  if (const Lease* l = leases_.Find(lease_id);
      l != nullptr && l->ttl_s == 0 && l->endpoints.empty() && l->allocations.empty()) {
    leases_.Erase(lease_id);
    ch.leases.insert(lease_id);
  }
  return Status::Ok();
}

Result<v1::RouteConfig> RegistryState::GetRoute(const std::string& app) const {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  auto it = routes_.find(app);
  if (it == routes_.end()) return ErrNoRoute(app);
  return it->second;
}

Result<int64_t> RegistryState::PutRoute(const v1::RouteConfig& in, std::optional<int64_t> expected,
                                        Changes& ch) {
  if (Status s = contract::ValidateRoute(in); !s.ok()) return s;
  auto it = routes_.find(in.app());
  const int64_t current = it == routes_.end() ? 0 : it->second.revision();
  if (expected && *expected != current)
    return ErrRouteRevision(in.app(), current, *expected);
  const int64_t rev = revision_ + 1;
  v1::RouteConfig r = in;
  r.set_revision(rev);
  routes_[r.app()] = r;
  revision_ = rev;
  ch.routes.insert(r.app());
  v1::Event e;
  e.set_type(v1::Event::ROUTE_PUT);
  e.set_revision(rev);
  *e.mutable_route() = std::move(r);
  Emit(std::move(e), ch);
  return rev;
}

Result<int64_t> RegistryState::DeleteRoute(const std::string& app, std::optional<int64_t> expected,
                                           Changes& ch) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  auto it = routes_.find(app);
  if (it == routes_.end()) return ErrNoRoute(app);
  if (expected && *expected != it->second.revision()) return ErrRouteRevision(app, it->second.revision(), *expected);
  const int64_t rev = revision_ + 1;
  v1::Event e;
  e.set_type(v1::Event::ROUTE_DELETE);
  e.set_revision(rev);
  *e.mutable_route() = std::move(it->second);
  e.mutable_route()->set_revision(rev);
  routes_.erase(it);
  revision_ = rev;
  ch.routes.insert(app);
  Emit(std::move(e), ch);
  return rev;
}

Result<std::vector<v1::Endpoint>> RegistryState::Query(const std::string& app, const std::string& prefix,
                                                       const std::string& role, uint64_t lease_id) const {
  if (Status s = ValidateQuery(app, prefix, role); !s.ok()) return s;
  std::vector<v1::Endpoint> out;
  auto match = [&](const v1::Endpoint& ep) { return MatchesQuery(ep, "", prefix, role); };
  if (lease_id != 0) {
    const Lease* lease = leases_.Find(lease_id);
    if (lease == nullptr) return ErrLeaseExpired(lease_id);
    for (uint64_t id : lease->endpoints)
      if (const auto& ep = endpoints_.at(id); match(ep) && (app.empty() || ep.app() == app)) out.push_back(ep);
  } else if (app.empty()) {
    for (const auto& [id, ep] : endpoints_)
      if (match(ep)) out.push_back(ep);
  } else if (auto it = by_app_.find(app); it != by_app_.end()) {
    for (uint64_t id : it->second)
      if (const auto& ep = endpoints_.at(id); match(ep)) out.push_back(ep);
  }
  return out;
}

std::vector<v1::WatchResponse> RegistryState::Snapshot(const std::string& app, size_t chunk) const {
  SnapshotChunker out(app, chunk, revision_);
  for (const auto& [name, route] : routes_) out.AddRoute(route);
  if (app.empty()) {
    for (const auto& [id, ep] : endpoints_) out.AddEndpoint(ep);
  } else if (auto it = by_app_.find(app); it != by_app_.end()) {
    for (uint64_t id : it->second) out.AddEndpoint(endpoints_.at(id));
  }
  return out.Finish();
}

std::optional<std::vector<v1::Event>> RegistryState::EventsSince(int64_t from, const std::string& app) const {
  auto events = log_.Since(from, revision_);
  if (!events || app.empty()) return events;
  std::vector<v1::Event> filtered;
  for (auto& e : *events) {
    const std::string& a = e.has_endpoint() ? e.endpoint().app() : e.route().app();
    if (a == app) filtered.push_back(std::move(e));
  }
  return filtered;
}

const v1::Endpoint* RegistryState::FindEndpoint(uint64_t id) const {
  auto it = endpoints_.find(id);
  return it == endpoints_.end() ? nullptr : &it->second;
}

const v1::RouteConfig* RegistryState::FindRoute(const std::string& app) const {
  auto it = routes_.find(app);
  return it == routes_.end() ? nullptr : &it->second;
}

void RegistryState::Restore(Persisted p, int64_t now_ms, int64_t grace_ms) {
  *this = RegistryState(opts_);
  revision_ = p.revision;
  next_lease_id_ = p.next_lease_id;
  next_endpoint_id_ = p.next_endpoint_id;
  for (const auto& [id, ttl] : p.leases) {
    leases_.Add(id, ttl, now_ms, grace_ms);
    next_lease_id_ = std::max(next_lease_id_, id + 1);
  }
  for (Allocation& a : p.allocations) {
    Lease* l = leases_.Find(a.lease_id);
    if (l == nullptr) continue;  // its lease is gone: the port is free
    l->allocations.insert({a.host, a.port});
    ports_.Put(std::move(a));
  }
  for (v1::Endpoint& ep : p.endpoints) {
    Lease* l = leases_.Find(ep.lease_id());
    if (l == nullptr) continue;
    // The endpoint's port is live whatever the allocation rows say.
    PortKey key{ep.host(), ep.port()};
    Allocation a = AllocationOf(ep);
    if (const Allocation* other = ports_.Find(key); other != nullptr && other->lease_id != ep.lease_id())
      if (Lease* ol = leases_.Find(other->lease_id)) ol->allocations.erase(key);
    ports_.Put(std::move(a));
    l->allocations.insert(key);
    l->endpoints.insert(ep.id());
    next_endpoint_id_ = std::max(next_endpoint_id_, ep.id() + 1);
    IndexEndpoint(ep);
    endpoints_[ep.id()] = std::move(ep);
  }
  for (v1::RouteConfig& r : p.routes) routes_[r.app()] = std::move(r);
  // An allocation naming an endpoint that did not come back is only reserved.
  for (Allocation& a : ports_.All())
    if (a.endpoint_id != 0 && endpoints_.find(a.endpoint_id) == endpoints_.end()) {
      a.endpoint_id = 0;
      ports_.Put(std::move(a));
    }
  int64_t compacted = p.events.empty() ? revision_ : p.events.front().revision() - 1;
  log_.Restore(std::move(p.events), compacted);
}

}  // namespace skyport::registry
