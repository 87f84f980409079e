// The Registry gRPC service: checks the token (and the fields no backend may
// see unknown) on every call, then hands the call to the Backend, which
// finishes it. Never blocks a gRPC thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "registry/backend.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::registry {

class RegistryService final : public v1::Registry::CallbackService {
 public:
  // `watch_queue_limit`: messages a slow watcher may have queued before it is
  // cut off (it then resumes from its revision).
  RegistryService(Backend* backend, std::string token, size_t watch_queue_limit = 4096)
      : backend_(backend), token_(std::move(token)), watch_queue_limit_(watch_queue_limit) {}

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
  // `skyport status`: the version, the store, when this registry started.
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext*, const v1::RegistryInfoRequest*,
                                 v1::RegistryInfoResponse*) override;
  void set_info(std::string store, int64_t started_unix_ms) {
    store_ = std::move(store);
    started_unix_ms_ = started_unix_ms;
  }

 // Watches that asked to resume from a revision of another store (and got a
  // snapshot): skyport_registry_watch_other_store_total.
  std::string MetricsText() const;

 private:
  // Authenticates (and runs `check`, if any), then hands the call to
  // `call`, which finishes the reactor through the Done it is given.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, const std::function<void(Backend::Done)>& call,
                                const std::function<Status()>& check = nullptr);

  Backend* backend_;
  std::string token_;
  size_t watch_queue_limit_;
  std::atomic<uint64_t> other_store_resumes_{0};
  std::string store_;  // set before the server starts
  int64_t started_unix_ms_ = 0;
};

}  // namespace skyport::registry
