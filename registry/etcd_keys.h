// Where the registry's state lives in etcd, and how each value is encoded.
// Pure: no I/O. Every key is below one root (`--etcd-prefix` + "registry/"):
//
//   ROOT lease/<id:016x>            v1::GrantResponse{lease_id, ttl_seconds}
//   ROOT ep/<id:016x>               v1::Endpoint (its revision is the key's mod_revision)
//   ROOT port/<host>/<port:05d>     the allocation: v1::Endpoint carrying only host, port,
//                                   lease_id, app, commit, role, instance and id (the
//                                   endpoint on it, 0 while only reserved)
//   ROOT route/<app>                v1::RouteConfig (revision = the key's mod_revision)
//   ROOT unreg/<lease:016x>/<host>/<app>/<commit>/<role>/<instance>
//                                   the allocation (as its port key holds it) that
//                                   lease holds for that identity on that host while
//                                   no entry is registered on it: how a retried
//                                   Allocate finds its port in one read (derived
//                                   data: Register and ReleasePort remove it, the
//                                   lease takes it along; migrate does not copy it)
//
// A Skyport lease IS the etcd lease of the same id: the lease, endpoint and
// port keys are attached to it, so etcd's expiry (or LeaseRevoke) removes a
// holder's entries and ports in one revision. A TTL-0 (static) lease is an
// etcd lease of kStaticLeaseTtl seconds. Ids are fixed-width hex so that keys
// sort by id, as the SQLite store lists them. Host names cannot hold '/'
// (core/names.h ValidateHost), so "port/<host>/" is one host's range.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "registry/port_allocator.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

// etcd's own ceiling (lease.MaxLeaseTTL, about 285 years): "never expires".
inline constexpr int64_t kStaticLeaseTtl = 9'000'000'000;
// Lease and endpoint ids fit in 53 bits: exact in JSON numbers everywhere,
// and positive as etcd's int64 lease ids must be.
inline constexpr uint64_t kMaxId = (uint64_t{1} << 53) - 1;

enum class KeyKind { kLease, kEndpoint, kPort, kRoute, kUnregistered, kOther };

struct ParsedKey {
  KeyKind kind = KeyKind::kOther;
  uint64_t id = 0;   // kLease, kEndpoint; kUnregistered: the lease
  std::string host;  // kPort, kUnregistered
  uint32_t port = 0; // kPort
  std::string app;   // kRoute
};

class EtcdKeys {
 public:
  // `prefix` is --etcd-prefix (e.g. "/skyport/"); the registry's root is
  // prefix + "registry/".
  explicit EtcdKeys(std::string prefix) : root_(std::move(prefix) + "registry/") {}

  const std::string& root() const { return root_; }
  std::string Lease(uint64_t id) const;
  std::string Endpoint(uint64_t id) const;
  std::string Port(const std::string& host, uint32_t port) const;
  std::string Route(const std::string& app) const;
  // The identity index of `a` (its lease, host, app, commit, role, instance).
  std::string Unregistered(const Allocation& a) const;
  std::string LeasePrefix() const { return root_ + "lease/"; }
  std::string EndpointPrefix() const { return root_ + "ep/"; }
  std::string PortPrefix() const { return root_ + "port/"; }
  std::string HostPorts(const std::string& host) const { return PortPrefix() + host + "/"; }
  std::string RoutePrefix() const { return root_ + "route/"; }

  // kOther for anything that is not exactly one of the shapes above.
  ParsedKey Parse(std::string_view key) const;

 private:
  std::string root_;
};

// Values. Decoders check that the value agrees with its key (a value copied
// under another key is DATA_LOSS, never served) and fill the revision from
// the key's mod_revision.
std::string EncodeLease(uint64_t id, uint32_t ttl_s);
std::string EncodeEndpoint(const v1::Endpoint& ep);  // revision dropped
std::string EncodeAllocation(const Allocation& a);
std::string EncodeRoute(const v1::RouteConfig& r);  // revision dropped

Result<v1::GrantResponse> DecodeLease(const EtcdKeys& keys, const mvccpb::KeyValue& kv);
Result<v1::Endpoint> DecodeEndpoint(const EtcdKeys& keys, const mvccpb::KeyValue& kv);
Result<Allocation> DecodeAllocation(const EtcdKeys& keys, const mvccpb::KeyValue& kv);
// An identity index's value: an allocation without an entry whose own index
// key is this one.
Result<Allocation> DecodeUnregistered(const EtcdKeys& keys, const mvccpb::KeyValue& kv);
Result<v1::RouteConfig> DecodeRoute(const EtcdKeys& keys, const mvccpb::KeyValue& kv);

}  // namespace skyport::registry
