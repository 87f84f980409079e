#include "registry/etcd_keys.h"

#include <charconv>

#include <fmt/format.h>

#include "core/names.h"

namespace skyport::registry {
namespace {

bool ParseHexId(std::string_view s, uint64_t& out) {
  if (s.size() != 16) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size() && out != 0 && out <= kMaxId;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

Status Corrupt(const mvccpb::KeyValue& kv, std::string_view why) {
  return Status::DataLoss(fmt::format("etcd: value of key \"{}\" {}", kv.key(), why));
}

}  // namespace

std::string EtcdKeys::Lease(uint64_t id) const { return fmt::format("{}lease/{:016x}", root_, id); }
std::string EtcdKeys::Endpoint(uint64_t id) const { return fmt::format("{}ep/{:016x}", root_, id); }
std::string EtcdKeys::Port(const std::string& host, uint32_t port) const {
  return fmt::format("{}port/{}/{:05d}", root_, host, port);
}
std::string EtcdKeys::Route(const std::string& app) const { return root_ + "route/" + app; }
std::string EtcdKeys::Unregistered(const Allocation& a) const {
  return fmt::format("{}unreg/{:016x}/{}/{}/{}/{}/{}", root_, a.lease_id, a.host, a.app, a.commit, a.role, a.instance);
}

ParsedKey EtcdKeys::Parse(std::string_view key) const {
  ParsedKey k;
  if (!StartsWith(key, root_)) return k;
  std::string_view rest = key.substr(root_.size());
  if (StartsWith(rest, "lease/")) {
    if (ParseHexId(rest.substr(6), k.id)) k.kind = KeyKind::kLease;
  } else if (StartsWith(rest, "ep/")) {
    if (ParseHexId(rest.substr(3), k.id)) k.kind = KeyKind::kEndpoint;
  } else if (StartsWith(rest, "route/")) {
    std::string_view app = rest.substr(6);
    if (ValidateName("app", app).ok()) {
      k.kind = KeyKind::kRoute;
      k.app = std::string(app);
    }
  } else if (StartsWith(rest, "unreg/")) {
    // <lease>/<host>/<app>/<commit>/<role>/<instance>: none of them holds a '/'.
    std::string_view part[6];
    rest = rest.substr(6);
    for (int i = 0; i < 6; ++i) {
      const size_t slash = i < 5 ? rest.find('/') : rest.size();
      if (slash == std::string_view::npos) return k;
      part[i] = rest.substr(0, slash);
      rest = i < 5 ? rest.substr(slash + 1) : std::string_view();
    }
    uint32_t instance = 0;
    auto [end, ec] = std::from_chars(part[5].data(), part[5].data() + part[5].size(), instance);
    if (!ParseHexId(part[0], k.id) || !ValidateHost("host", part[1]).ok() || !ValidateName("app", part[2]).ok() ||
        !ValidateCommit("commit", part[3]).ok() || !ValidateName("role", part[4]).ok() || part[5].empty() ||
        ec != std::errc() || end != part[5].data() + part[5].size() || part[5].find('/') != std::string_view::npos ||
        (part[5].size() > 1 && part[5][0] == '0')) {
      k.id = 0;
      return k;
    }
    k.kind = KeyKind::kUnregistered;
    k.host = std::string(part[1]);
    k.app = std::string(part[2]);
  } else if (StartsWith(rest, "port/")) {
    rest = rest.substr(5);
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return k;
    std::string_view host = rest.substr(0, slash), port = rest.substr(slash + 1);
    uint32_t p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.size() != 5 || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535 ||
        !ValidateHost("host", host).ok())
      return k;
    k.kind = KeyKind::kPort;
    k.host = std::string(host);
    k.port = p;
  }
  return k;
}

std::string EncodeLease(uint64_t id, uint32_t ttl_s) {
  v1::GrantResponse g;
  g.set_lease_id(id);
  g.set_ttl_seconds(ttl_s);
  return g.SerializeAsString();
}

std::string EncodeEndpoint(const v1::Endpoint& ep) {
  v1::Endpoint copy = ep;
  copy.clear_revision();
  return copy.SerializeAsString();
}

std::string EncodeAllocation(const Allocation& a) {
  v1::Endpoint e;
  e.set_host(a.host);
  e.set_port(a.port);
  e.set_lease_id(a.lease_id);
  e.set_app(a.app);
  e.set_commit(a.commit);
  e.set_role(a.role);
  e.set_instance(a.instance);
  e.set_id(a.endpoint_id);
  return e.SerializeAsString();
}

std::string EncodeRoute(const v1::RouteConfig& r) {
  v1::RouteConfig copy = r;
  copy.clear_revision();
  return copy.SerializeAsString();
}

Result<v1::GrantResponse> DecodeLease(const EtcdKeys& keys, const mvccpb::KeyValue& kv) {
  ParsedKey k = keys.Parse(kv.key());
  v1::GrantResponse g;
  if (k.kind != KeyKind::kLease) return Corrupt(kv, "is not under a lease key");
  if (!g.ParseFromString(kv.value())) return Corrupt(kv, "is not a lease record");
  if (g.lease_id() != k.id || static_cast<uint64_t>(kv.lease()) != k.id)
    return Corrupt(kv, fmt::format("names lease {} and is attached to lease {}", g.lease_id(), kv.lease()));
  g.set_revision(kv.mod_revision());
  return g;
}

Result<v1::Endpoint> DecodeEndpoint(const EtcdKeys& keys, const mvccpb::KeyValue& kv) {
  ParsedKey k = keys.Parse(kv.key());
  v1::Endpoint ep;
  if (k.kind != KeyKind::kEndpoint) return Corrupt(kv, "is not under an endpoint key");
  if (!ep.ParseFromString(kv.value())) return Corrupt(kv, "is not an endpoint");
  if (ep.id() != k.id) return Corrupt(kv, fmt::format("holds endpoint {}", ep.id()));
  if (ep.lease_id() == 0 || static_cast<uint64_t>(kv.lease()) != ep.lease_id())
    return Corrupt(kv, fmt::format("names lease {} and is attached to lease {}", ep.lease_id(), kv.lease()));
  ep.set_revision(kv.mod_revision());
  return ep;
}

Result<Allocation> DecodeAllocation(const EtcdKeys& keys, const mvccpb::KeyValue& kv) {
  ParsedKey k = keys.Parse(kv.key());
  v1::Endpoint e;
  if (k.kind != KeyKind::kPort) return Corrupt(kv, "is not under a port key");
  if (!e.ParseFromString(kv.value())) return Corrupt(kv, "is not an allocation");
  if (e.host() != k.host || e.port() != k.port)
    return Corrupt(kv, fmt::format("holds {}:{}", e.host(), e.port()));
  if (e.lease_id() == 0 || static_cast<uint64_t>(kv.lease()) != e.lease_id())
    return Corrupt(kv, fmt::format("names lease {} and is attached to lease {}", e.lease_id(), kv.lease()));
  return AllocationOf(e);
}

Result<Allocation> DecodeUnregistered(const EtcdKeys& keys, const mvccpb::KeyValue& kv) {
  v1::Endpoint e;
  if (keys.Parse(kv.key()).kind != KeyKind::kUnregistered) return Corrupt(kv, "is not under an identity index key");
  if (!e.ParseFromString(kv.value())) return Corrupt(kv, "is not an allocation");
  Allocation a = AllocationOf(e);
  if (keys.Unregistered(a) != kv.key() || a.endpoint_id != 0)
    return Corrupt(kv, fmt::format("holds the allocation {}:{} of another identity or with an entry", a.host, a.port));
  if (a.lease_id == 0 || static_cast<uint64_t>(kv.lease()) != a.lease_id)
    return Corrupt(kv, fmt::format("names lease {} and is attached to lease {}", a.lease_id, kv.lease()));
  if (Status s = ValidatePort("port", a.port); !s.ok()) return Corrupt(kv, "names no valid port");
  return a;
}

Result<v1::RouteConfig> DecodeRoute(const EtcdKeys& keys, const mvccpb::KeyValue& kv) {
  ParsedKey k = keys.Parse(kv.key());
  v1::RouteConfig r;
  if (k.kind != KeyKind::kRoute) return Corrupt(kv, "is not under a route key");
  if (!r.ParseFromString(kv.value())) return Corrupt(kv, "is not a route config");
  if (r.app() != k.app) return Corrupt(kv, fmt::format("holds the route of \"{}\"", r.app()));
  r.set_revision(kv.mod_revision());
  return r;
}

}  // namespace skyport::registry
