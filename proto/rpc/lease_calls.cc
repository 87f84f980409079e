#include "rpc/lease_calls.h"

namespace skyport::rpc {

GrpcLeaseCalls::GrpcLeaseCalls(std::shared_ptr<AddressPool> registries, std::string token, int64_t timeout_ms,
                               int64_t revoke_timeout_ms)
    : registries_(std::move(registries)),
      token_(std::move(token)),
      timeout_ms_(timeout_ms),
      revoke_timeout_ms_(revoke_timeout_ms) {}

Result<uint64_t> GrpcLeaseCalls::Grant(uint32_t ttl_seconds) {
  v1::GrantRequest req;
  req.set_ttl_seconds(ttl_seconds);
  auto resp = RegistryCall<v1::GrantResponse>(*registries_, &v1::Registry::Stub::Grant, req, token_,
                                              {timeout_ms_, true, Retry::kSafe});
  if (!resp.ok()) return resp.status();
  return resp->lease_id();
}

Status GrpcLeaseCalls::KeepAlive(uint64_t lease) {
  v1::KeepAliveRequest req;
  req.set_lease_id(lease);
  return RegistryCall<v1::KeepAliveResponse>(*registries_, &v1::Registry::Stub::KeepAlive, req, token_,
                                             {timeout_ms_, true, Retry::kSafe})
      .status();
}

Result<uint64_t> GrpcLeaseCalls::Register(const v1::Endpoint& endpoint) {
  v1::RegisterRequest req;
  *req.mutable_endpoint() = endpoint;
  auto resp = RegistryCall<v1::RegisterResponse>(*registries_, &v1::Registry::Stub::Register, req, token_,
                                                 {timeout_ms_, true, Retry::kIfUnsent});
  if (!resp.ok()) return resp.status();
  return resp->id();
}

Result<uint32_t> GrpcLeaseCalls::Revoke(uint64_t lease) {
  v1::RevokeRequest req;
  req.set_lease_id(lease);
  auto resp = RegistryCall<v1::RevokeResponse>(*registries_, &v1::Registry::Stub::Revoke, req, token_,
                                               {revoke_timeout_ms_, false, Retry::kSafe});
  if (!resp.ok()) return resp.status();
  return resp->removed();
}

Result<std::vector<v1::Endpoint>> GrpcLeaseCalls::Entries(uint64_t lease) {
  v1::QueryRequest req;
  req.set_lease_id(lease);
  auto resp = RegistryCall<v1::QueryResponse>(*registries_, &v1::Registry::Stub::Query, req, token_,
                                              {timeout_ms_, true, Retry::kSafe});
  if (!resp.ok()) return resp.status();
  return std::vector<v1::Endpoint>(resp->endpoints().begin(), resp->endpoints().end());
}

}  // namespace skyport::rpc
