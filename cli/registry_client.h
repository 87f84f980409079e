// A thin client for the Registry service: one method per RPC, each with the
// cluster token attached and a deadline, returning values or a Status that
// carries the gRPC code and message unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "rpc/channel.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

struct ConnectOptions {
  std::string target;  // HOST:PORT or a list of them, "a:1,b:2" (core/address_list.h)
  std::string token;
  rpc::TlsFiles tls;
  int64_t timeout_ms = 10'000;  // per unary RPC
};

class RegistryClient {
 public:
  // Checks the address list; does not contact a registry yet. With several
  // addresses each call tries them in turn (rpc/failover.h says which calls
  // move on after a failure and why).
  static Result<std::unique_ptr<RegistryClient>> Connect(const ConnectOptions& opts);
  ~RegistryClient();

  Result<v1::GrantResponse> Grant(uint32_t ttl_seconds);
  Status KeepAlive(uint64_t lease_id);
  Result<v1::RevokeResponse> Revoke(uint64_t lease_id);
  Result<uint32_t> Allocate(const v1::AllocateRequest& req);
  Result<v1::RegisterResponse> Register(const v1::Endpoint& endpoint);
  Status Deregister(uint64_t id);
  Result<v1::QueryResponse> Query(const v1::QueryRequest& req);
  Result<v1::ShowResponse> Show();
  Result<v1::RouteConfig> GetRoute(const std::string& app);
  Result<v1::PutRouteResponse> PutRoute(const v1::RouteConfig& route,
                                        std::optional<int64_t> expected_revision);

  // Opens a Watch stream (no deadline) and calls `on_message` for each
  // message until the stream ends or `on_message` returns false (then the
  // call is cancelled); returns how it ended (OK only if the server closed
  // it cleanly). With a list, on a registry other than the one the last
  // stream came from, the watch starts from a fresh snapshot whatever
  // `req.from_revision` says (revisions are one registry's, or one etcd
  // cluster's).
  Status Watch(const v1::WatchRequest& req,
               const std::function<bool(const v1::WatchResponse&)>& on_message);

  // Same channel, another per-RPC deadline (e.g. a short one for KeepAlive).
  void set_timeout_ms(int64_t ms) { timeout_ms_ = ms; }
  int64_t timeout_ms() const { return timeout_ms_; }
  const std::string& target() const { return target_; }
  // The registry that gave the last call's answer ("" when none did).
  const std::string& answered_by() const { return answered_by_; }

 private:
  struct Impl;
  RegistryClient(std::unique_ptr<Impl> impl, std::string target, int64_t timeout_ms);

  std::unique_ptr<Impl> impl_;
  std::string target_;
  int64_t timeout_ms_;
  std::string answered_by_;
  std::string watch_source_;  // the registry the last watch stream came from
};

}  // namespace skyport::cli
