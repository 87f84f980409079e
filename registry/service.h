// The Registry gRPC service: checks the token on every call, then hands the
// call to the StateOwner. Never blocks a gRPC thread.
#pragma once

#include <memory>
#include <string>

#include "registry/state_owner.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::registry {

class RegistryService final : public v1::Registry::CallbackService {
 public:
  // `watch_queue_limit`: messages a slow watcher may have queued before it is
  // cut off (it then resumes from its revision).
  RegistryService(StateOwner* owner, std::string token, size_t watch_queue_limit = 4096)
      : owner_(owner), token_(std::move(token)), watch_queue_limit_(watch_queue_limit) {}

  grpc::ServerUnaryReactor* Grant(grpc::CallbackServerContext*, const v1::GrantRequest*, v1::GrantResponse*) override;
  grpc::ServerUnaryReactor* KeepAlive(grpc::CallbackServerContext*, const v1::KeepAliveRequest*,
                                      v1::KeepAliveResponse*) override;
  grpc::ServerUnaryReactor* Revoke(grpc::CallbackServerContext*, const v1::RevokeRequest*, v1::RevokeResponse*) override;
  grpc::ServerUnaryReactor* Allocate(grpc::CallbackServerContext*, const v1::AllocateRequest*,
                                     v1::AllocateResponse*) override;
  grpc::ServerUnaryReactor* ReleasePort(grpc::CallbackServerContext*, const v1::ReleasePortRequest*,
                                        v1::ReleasePortResponse*) override;
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext*, const v1::RegisterRequest*,
                                     v1::RegisterResponse*) override;
  grpc::ServerUnaryReactor* Deregister(grpc::CallbackServerContext*, const v1::DeregisterRequest*,
                                       v1::DeregisterResponse*) override;
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext*, const v1::QueryRequest*, v1::QueryResponse*) override;
  grpc::ServerUnaryReactor* Show(grpc::CallbackServerContext*, const v1::ShowRequest*, v1::ShowResponse*) override;
  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(grpc::CallbackServerContext*, const v1::WatchRequest*) override;
  grpc::ServerUnaryReactor* GetRoute(grpc::CallbackServerContext*, const v1::GetRouteRequest*, v1::RouteConfig*) override;
  grpc::ServerUnaryReactor* PutRoute(grpc::CallbackServerContext*, const v1::PutRouteRequest*,
                                     v1::PutRouteResponse*) override;
  grpc::ServerUnaryReactor* DeleteRoute(grpc::CallbackServerContext*, const v1::DeleteRouteRequest*,
                                        v1::DeleteRouteResponse*) override;

 private:
  // Authenticates, then runs `apply` on the owner thread and finishes the
  // call once the batch holding it is durable.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, StateOwner::Apply apply);

  StateOwner* owner_;
  std::string token_;
  size_t watch_queue_limit_;
};

}  // namespace skyport::registry
