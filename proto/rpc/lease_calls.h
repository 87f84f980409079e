// LeaseCalls over the Registry service: each call carries the cluster token
// and a deadline, and goes over the holder's registry address list
// (rpc/failover.h: Grant, KeepAlive and Revoke move on to the next registry
// after a failure; Register only when it was surely not sent). The
// lease-keeping calls wait for the registry while it is away
// (`wait_for_peer`, rpc/call.h), so a holder's loop cannot spin; Revoke
// (start-up and shutdown) never waits for it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "rpc/address_pool.h"
#include "rpc/failover.h"
#include "rpc/lease_shell.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::rpc {

class GrpcLeaseCalls final : public LeaseCalls {
 public:
  GrpcLeaseCalls(std::shared_ptr<AddressPool> registries, std::string token, int64_t timeout_ms = 3000,
                 int64_t revoke_timeout_ms = 3000);

  Result<uint64_t> Grant(uint32_t ttl_seconds) override;
  Status KeepAlive(uint64_t lease) override;
  Result<uint64_t> Register(const v1::Endpoint& endpoint) override;
  Result<uint32_t> Revoke(uint64_t lease) override;
  Result<std::vector<v1::Endpoint>> Entries(uint64_t lease) override;

 private:
  std::shared_ptr<AddressPool> registries_;
  std::string token_;
  int64_t timeout_ms_;
  int64_t revoke_timeout_ms_;
};

// One unary Registry call over `registries` (rpc/failover.h):
// `(stub.*method)(ctx, req, &resp)`.
template <class Resp, class Method, class Req>
Result<Resp> RegistryCall(AddressPool& registries, Method method, const Req& req, const std::string& token,
                          const FailoverOptions& opts) {
  Resp resp;
  auto answer = CallWithFailover(registries, token, opts,
                                 [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
                                   resp.Clear();
                                   auto stub = v1::Registry::NewStub(ch);
                                   return ((*stub).*method)(&ctx, req, &resp);
                                 });
  if (!answer.status.ok()) return answer.status;
  return resp;
}

}  // namespace skyport::rpc
