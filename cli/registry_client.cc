#include "cli/registry_client.h"

#include <chrono>

#include "rpc/call.h"
#include "rpc/failover.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::cli {

struct RegistryClient::Impl {
  std::string token;
  std::shared_ptr<rpc::AddressPool> pool;

  // One unary call over the address list (rpc/failover.h says which calls
  // move on to the next registry); records who answered.
  template <class Resp, class Req, class Method>
  Result<Resp> Unary(Method method, const Req& req, int64_t timeout_ms, rpc::Retry retry, std::string& by) {
    Resp resp;
    auto answer = rpc::CallWithFailover(
        *pool, token, rpc::FailoverOptions{timeout_ms, false, retry},
        [&](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
          resp.Clear();
          return (v1::Registry::NewStub(ch).get()->*method)(&ctx, req, &resp);
        });
    by = answer.by;
    if (!answer.status.ok()) return answer.status;
    return resp;
  }
};

RegistryClient::RegistryClient(std::unique_ptr<Impl> impl, std::string target, int64_t timeout_ms)
    : impl_(std::move(impl)), target_(std::move(target)), timeout_ms_(timeout_ms) {}
RegistryClient::~RegistryClient() = default;

Result<std::unique_ptr<RegistryClient>> RegistryClient::Connect(const ConnectOptions& opts) {
  auto pool = rpc::AddressPool::Create("registry", opts.target, opts.tls, /*log_changes=*/false,
                                       rpc::kMaxRegistryMessageBytes);
  if (!pool.ok()) return pool.status();
  auto impl = std::make_unique<Impl>();
  impl->token = opts.token;
  impl->pool = *pool;
  return std::unique_ptr<RegistryClient>(new RegistryClient(std::move(impl), opts.target, opts.timeout_ms));
}

Result<v1::GrantResponse> RegistryClient::Grant(uint32_t ttl_seconds) {
  v1::GrantRequest req;
  req.set_ttl_seconds(ttl_seconds);
  return impl_->Unary<v1::GrantResponse>(&v1::Registry::Stub::Grant, req, timeout_ms_, rpc::Retry::kSafe,
                                         answered_by_);
}

Status RegistryClient::KeepAlive(uint64_t lease_id) {
  v1::KeepAliveRequest req;
  req.set_lease_id(lease_id);
  return impl_
      ->Unary<v1::KeepAliveResponse>(&v1::Registry::Stub::KeepAlive, req, timeout_ms_, rpc::Retry::kSafe,
                                     answered_by_)
      .status();
}

Result<v1::RevokeResponse> RegistryClient::Revoke(uint64_t lease_id) {
  v1::RevokeRequest req;
  req.set_lease_id(lease_id);
  return impl_->Unary<v1::RevokeResponse>(&v1::Registry::Stub::Revoke, req, timeout_ms_, rpc::Retry::kSafe,
                                          answered_by_);
}

Result<uint32_t> RegistryClient::Allocate(const v1::AllocateRequest& req) {
  auto r = impl_->Unary<v1::AllocateResponse>(&v1::Registry::Stub::Allocate, req, timeout_ms_,
                                              rpc::Retry::kIfUnsent, answered_by_);
  if (!r.ok()) return r.status();
  return r->port();
}

Result<v1::RegisterResponse> RegistryClient::Register(const v1::Endpoint& endpoint) {
  v1::RegisterRequest req;
  *req.mutable_endpoint() = endpoint;
  return impl_->Unary<v1::RegisterResponse>(&v1::Registry::Stub::Register, req, timeout_ms_,
                                            rpc::Retry::kIfUnsent, answered_by_);
}

Status RegistryClient::Deregister(uint64_t id) {
  v1::DeregisterRequest req;
  req.set_id(id);
  return impl_
      ->Unary<v1::DeregisterResponse>(&v1::Registry::Stub::Deregister, req, timeout_ms_, rpc::Retry::kSafe,
                                      answered_by_)
      .status();
}

Result<v1::QueryResponse> RegistryClient::Query(const v1::QueryRequest& req) {
  return impl_->Unary<v1::QueryResponse>(&v1::Registry::Stub::Query, req, timeout_ms_, rpc::Retry::kSafe,
                                         answered_by_);
}

Result<v1::ShowResponse> RegistryClient::Show() {
  v1::ShowRequest req;
  return impl_->Unary<v1::ShowResponse>(&v1::Registry::Stub::Show, req, timeout_ms_, rpc::Retry::kSafe,
                                        answered_by_);
}

Result<v1::RouteConfig> RegistryClient::GetRoute(const std::string& app) {
  v1::GetRouteRequest req;
  req.set_app(app);
  return impl_->Unary<v1::RouteConfig>(&v1::Registry::Stub::GetRoute, req, timeout_ms_, rpc::Retry::kSafe,
                                       answered_by_);
}

Result<v1::PutRouteResponse> RegistryClient::PutRoute(const v1::RouteConfig& route,
                                                      std::optional<int64_t> expected_revision) {
  v1::PutRouteRequest req;
  *req.mutable_route() = route;
  if (expected_revision) req.set_expected_revision(*expected_revision);
  return impl_->Unary<v1::PutRouteResponse>(&v1::Registry::Stub::PutRoute, req, timeout_ms_,
                                            rpc::Retry::kIfUnsent, answered_by_);
}

Status RegistryClient::Watch(const v1::WatchRequest& req,
                             const std::function<bool(const v1::WatchResponse&)>& on_message) {
  // A watch lasts as long as the caller wants, and while the registry is
  // away it waits for it: the stream resumes as soon as it is back. With a
  // list, a registry that cannot be reached passes the watch to the next.
  const bool list = impl_->pool->listed_count() > 1;
  auto answer = rpc::StreamWithFailover(
      *impl_->pool, impl_->token, rpc::FailoverOptions{0, /*wait_for_peer=*/!list, rpc::Retry::kSafe},
      [&](const std::string& address, const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx,
          bool& started) {
        // Another registry's revisions are not known to be this one's
        // (rpc/failover.h): from there, a fresh snapshot.
        v1::WatchRequest sent = req;
        if (!watch_source_.empty() && address != watch_source_) sent.set_from_revision(0);
        auto stub = v1::Registry::NewStub(ch);
        auto reader = stub->Watch(&ctx, sent);
        return rpc::ReadStream<v1::WatchResponse>(ctx, *reader, [&](const v1::WatchResponse& msg) {
          if (!started) answered_by_ = watch_source_ = address;
          started = true;
          return on_message(msg);
        });
      });
  answered_by_ = answer.by;
  return answer.status;
}

}  // namespace skyport::cli
