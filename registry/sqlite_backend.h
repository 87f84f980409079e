// The Backend on the embedded SQLite store: every call becomes a closure that
// the StateOwner's one thread applies to RegistryState and answers once its
// batch is committed (state_owner.h).
#pragma once

#include <memory>
#include <string>

#include "registry/backend.h"
#include "registry/state_owner.h"

namespace skyport::registry {

class SqliteBackend final : public Backend {
 public:
  explicit SqliteBackend(std::unique_ptr<StateOwner> owner) : owner_(std::move(owner)) {}
  ~SqliteBackend() override { owner_->Stop(); }

  void Grant(const v1::GrantRequest& req, v1::GrantResponse* resp, Done done) override;
  void KeepAlive(const v1::KeepAliveRequest& req, v1::KeepAliveResponse* resp, Done done) override;
  void Revoke(const v1::RevokeRequest& req, v1::RevokeResponse* resp, Done done) override;
  void Allocate(const v1::AllocateRequest& req, v1::AllocateResponse* resp, Done done) override;
  void ReleasePort(const v1::ReleasePortRequest& req, v1::ReleasePortResponse* resp, Done done) override;
  void Register(const v1::RegisterRequest& req, v1::RegisterResponse* resp, Done done) override;
  void Deregister(const v1::DeregisterRequest& req, v1::DeregisterResponse* resp, Done done) override;
  void Query(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done) override;
  void Show(const v1::ShowRequest& req, v1::ShowResponse* resp, Done done) override;
  void GetRoute(const v1::GetRouteRequest& req, v1::RouteConfig* resp, Done done) override;
  void PutRoute(const v1::PutRouteRequest& req, v1::PutRouteResponse* resp, Done done) override;
  void DeleteRoute(const v1::DeleteRouteRequest& req, v1::DeleteRouteResponse* resp, Done done) override;
  void Watch(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app) override;
  std::string Metrics() const override;
  std::string StoreId() const override { return owner_->store_id(); }

  // Stops the owner thread; later calls fail with UNAVAILABLE.
  void Stop() { owner_->Stop(); }

 private:
  std::unique_ptr<StateOwner> owner_;
};

}  // namespace skyport::registry
