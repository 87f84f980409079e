#include "registry/migrate_data.h"

#include <tuple>

#include <fmt/format.h>
#include <google/protobuf/util/message_differencer.h>

namespace skyport::registry {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string Describe(const Allocation& a) {
  return fmt::format("lease {} {}@{} {} #{} entry {}", a.lease_id, a.app, a.commit, a.role, a.instance,
                     a.endpoint_id);
}

std::string Short(const google::protobuf::Message& m) {
  std::string s = m.ShortDebugString();
  return s.size() > 300 ? s.substr(0, 300) + "..." : s;
}

// The first key of `a` not in `b` with the same value, named by `name`.
template <class K, class V, class Same, class Show>
std::string FirstOf(const std::map<K, V>& src, const std::map<K, V>& dst, const std::string& kind,
                    const std::function<std::string(const K&)>& name, Same same, Show show) {
  for (const auto& [k, v] : src) {
    auto it = dst.find(k);
    if (it == dst.end()) return fmt::format("{} {}: in the source, missing from the destination", kind, name(k));
    if (!same(v, it->second))
      return fmt::format("{} {}: {} in the source, {} in the destination", kind, name(k), show(v), show(it->second));
  }
  for (const auto& [k, v] : dst)
    if (src.find(k) == src.end()) return fmt::format("{} {}: in the destination only", kind, name(k));
  return "";
}

}  // namespace

MigrationData Normalize(const Persisted& p) {
  MigrationData d;
  d.revision = p.revision;
  for (const auto& [id, ttl] : p.leases) d.leases[id] = ttl;
  for (const Allocation& a : p.allocations)
    if (d.leases.count(a.lease_id)) d.allocations[{a.host, a.port}] = a;
  // One entry per host:port (the store's rule). etcd can hold two for a
  // moment (an entry a restore brought back beside the one that took its port
  // since, until its holder's audit removes it): the newest stays.
  std::map<PortKey, const v1::Endpoint*> on_port;
  for (const v1::Endpoint& in : p.endpoints) {
    if (!d.leases.count(in.lease_id())) continue;
    const v1::Endpoint*& seen = on_port[{in.host(), in.port()}];
    if (seen == nullptr || std::make_pair(in.revision(), in.id()) > std::make_pair(seen->revision(), seen->id()))
      seen = &in;
  }
  for (const auto& [key, in] : on_port) {
    v1::Endpoint ep = *in;
    ep.clear_revision();
    Allocation a = AllocationOf(ep);
    d.allocations[{a.host, a.port}] = a;
    d.endpoints[ep.id()] = std::move(ep);
  }
  for (auto& [key, a] : d.allocations)
    if (a.endpoint_id != 0 && !d.endpoints.count(a.endpoint_id)) a.endpoint_id = 0;
  using Identity = std::tuple<std::string, uint64_t, std::string, std::string, std::string, uint32_t>;
  std::map<Identity, PortKey> last;
  for (const Allocation& a : p.allocations) {
    auto it = d.allocations.find({a.host, a.port});
    if (it == d.allocations.end() || it->second.endpoint_id != 0) continue;
    const Allocation& live = it->second;
    last[{live.host, live.lease_id, live.app, live.commit, live.role, live.instance}] = it->first;
  }
  for (const auto& [identity, key] : last) d.answering.insert(key);
  for (const v1::RouteConfig& in : p.routes) {
    v1::RouteConfig r = in;
    r.clear_revision();
    d.routes[r.app()] = std::move(r);
  }
  return d;
}

std::string FirstDifference(const MigrationData& s, const MigrationData& d) {
  auto id = [](const uint64_t& k) { return std::to_string(k); };
  std::string diff = FirstOf<uint64_t, uint32_t>(
      s.leases, d.leases, "lease", id, [](uint32_t a, uint32_t b) { return a == b; },
      [](uint32_t ttl) { return fmt::format("ttl {}", ttl); });
  if (!diff.empty()) return diff;
  diff = FirstOf<PortKey, Allocation>(
      s.allocations, d.allocations, "port",
      [](const PortKey& k) { return fmt::format("{}:{}", k.host, k.port); },
      [](const Allocation& a, const Allocation& b) { return Describe(a) == Describe(b); }, Describe);
  if (!diff.empty()) return diff;
  for (const PortKey& k : s.answering)
    if (!d.answering.count(k))
      return fmt::format("port {}:{}: answers a retried Allocate in the source, not in the destination", k.host,
                         k.port);
  for (const PortKey& k : d.answering)
    if (!s.answering.count(k))
      return fmt::format("port {}:{}: answers a retried Allocate in the destination only", k.host, k.port);
  diff = FirstOf<uint64_t, v1::Endpoint>(
      s.endpoints, d.endpoints, "endpoint", id,
      [](const v1::Endpoint& a, const v1::Endpoint& b) { return MessageDifferencer::Equals(a, b); }, Short);
  if (!diff.empty()) return diff;
  return FirstOf<std::string, v1::RouteConfig>(
      s.routes, d.routes, "route", [](const std::string& k) { return k; },
      [](const v1::RouteConfig& a, const v1::RouteConfig& b) { return MessageDifferencer::Equals(a, b); }, Short);
}

}  // namespace skyport::registry
