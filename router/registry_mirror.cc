#include "router/registry_mirror.h"

#include <algorithm>

#include "router/route_build.h"

namespace skyport::router {

void RegistryMirror::Apply(const v1::Event& event) {
  switch (event.type()) {
    case v1::Event::ENDPOINT_PUT:
      PutEndpoint(event.endpoint());
      break;
    case v1::Event::ENDPOINT_DELETE:
      DeleteEndpoint(event.endpoint().id());
      break;
    case v1::Event::ROUTE_PUT:
      PutRoute(event.route());
      break;
    case v1::Event::ROUTE_DELETE:
      DeleteRoute(event.route().app());
      break;
    default:
      break;
  }
}

void RegistryMirror::PutEndpoint(const v1::Endpoint& ep) {
  Remove(ep.id());  // a put replaces the whole entry, which may have moved to another app
  MirrorApp& app = apps_[ep.app()];
  if (!app.route)
    if (auto r = routes_.find(ep.app()); r != routes_.end()) app.route = &r->second;
  MirrorEndpoint m;
  m.commit = ep.commit();
  m.routed_role = ep.role() == role_;
  m.host = ep.host();
  m.port = ep.port();
  m.health = ep.health();
  m.registered_unix_ms = ep.registered_unix_ms();
  m.numeric = internal::IsNumericHost(m.host);
  std::string label = internal::InstanceLabel(m.host, static_cast<int>(m.port));
  ++app.commits[m.commit];
  if (m.routed_role) {
    ++app.routed;
    if (!m.numeric) UseHost(m.host, ep.app(), +1);
  }
  where_[ep.id()] = {ep.app(), label};
  app.endpoints.insert_or_assign(EndpointKey{std::move(label), ep.id()}, std::move(m));
  touched_.insert(ep.app());
}

void RegistryMirror::DeleteEndpoint(uint64_t id) { Remove(id); }

void RegistryMirror::Remove(uint64_t id) {
  auto w = where_.find(id);
  if (w == where_.end()) return;
  const std::string name = std::move(w->second.first);
  const EndpointKey key{std::move(w->second.second), id};
  where_.erase(w);
  auto a = apps_.find(name);
  if (a == apps_.end()) return;
  auto e = a->second.endpoints.find(key);
  if (e != a->second.endpoints.end()) {
    if (auto c = a->second.commits.find(e->second.commit); c != a->second.commits.end() && --c->second == 0)
      a->second.commits.erase(c);
    if (e->second.routed_role) {
      --a->second.routed;
      if (!e->second.numeric) UseHost(e->second.host, name, -1);
    }
    a->second.endpoints.erase(e);
  }
  touched_.insert(name);
  DropIfEmpty(name);
}

void RegistryMirror::PutRoute(const v1::RouteConfig& route) {
  v1::RouteConfig& stored = routes_[route.app()];
  stored = route;
  apps_[route.app()].route = &stored;
  touched_.insert(route.app());
}

void RegistryMirror::DeleteRoute(const std::string& app) {
  if (routes_.erase(app) == 0) return;
  if (auto a = apps_.find(app); a != apps_.end()) a->second.route = nullptr;
  touched_.insert(app);
  DropIfEmpty(app);
}

void RegistryMirror::DropIfEmpty(const std::string& app) {
  auto a = apps_.find(app);
  if (a != apps_.end() && a->second.endpoints.empty() && !a->second.route) apps_.erase(a);
}

void RegistryMirror::UseHost(const std::string& host, const std::string& app, int delta) {
  if (delta > 0) {
    ++hosts_[host][app];
    return;
  }
  auto h = hosts_.find(host);
  if (h == hosts_.end()) return;
  auto a = h->second.find(app);
  if (a != h->second.end() && --a->second == 0) h->second.erase(a);
  if (h->second.empty()) {
    released_.push_back(host);
    hosts_.erase(h);
  }
}

void RegistryMirror::ReplaceWith(RegistryMirror next) {
  for (const auto& [name, app] : apps_) touched_.insert(name);
  for (const auto& [name, app] : next.apps_) touched_.insert(name);
  for (const auto& [host, apps] : hosts_)
    if (!next.hosts_.count(host)) released_.push_back(host);
  apps_ = std::move(next.apps_);
  routes_ = std::move(next.routes_);
  where_ = std::move(next.where_);
  hosts_ = std::move(next.hosts_);
}

std::set<std::string> RegistryMirror::TakeTouched() { return std::exchange(touched_, {}); }

std::vector<std::string> RegistryMirror::TakeReleasedHosts() {
  // A host released and used again within the batch (a put replaces its
  // entry: Remove, then add back) keeps its cached address: dropping it would
  // unroute the entry until the name resolves again, on every re-registration.
  std::vector<std::string> out;
  for (std::string& host : std::exchange(released_, {}))
    if (!hosts_.count(host) && std::find(out.begin(), out.end(), host) == out.end()) out.push_back(std::move(host));
  return out;
}

const MirrorApp* RegistryMirror::Find(const std::string& app) const {
  auto it = apps_.find(app);
  return it == apps_.end() ? nullptr : &it->second;
}

const std::map<std::string, size_t>* RegistryMirror::AppsUsingHost(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : &it->second;
}

}  // namespace skyport::router
