// LeaseCalls over the Registry service: each call carries the cluster token
// and a deadline; the lease-keeping calls wait for the registry while it is
// away (`wait_for_peer`, rpc/call.h), so a holder's loop cannot spin; Revoke
// (start-up and shutdown) never waits for it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "rpc/lease_shell.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::rpc {

class GrpcLeaseCalls final : public LeaseCalls {
 public:
  GrpcLeaseCalls(std::shared_ptr<grpc::Channel> channel, std::string token, int64_t timeout_ms = 3000,
                 int64_t revoke_timeout_ms = 3000);

  Result<uint64_t> Grant(uint32_t ttl_seconds) override;
  Status KeepAlive(uint64_t lease) override;
  Result<uint64_t> Register(const v1::Endpoint& endpoint) override;
  Result<uint32_t> Revoke(uint64_t lease) override;

 private:
  std::unique_ptr<v1::Registry::Stub> stub_;
  std::string token_;
  int64_t timeout_ms_;
  int64_t revoke_timeout_ms_;
};

}  // namespace skyport::rpc
