// The router's view of the registry. RegistryWatch keeps one Watch stream
// open, applies snapshots and deltas to a local copy, and publishes a new
// route table after every complete message; when the stream breaks it keeps
// the last table and resumes from its revision on the same registry, or
// takes a fresh snapshot from the next one of its --registry list. RegistryPresence registers
// the router's admin address (app "skyport-router", role "admin") under a
// lease it keeps alive, so `skyport stats` can find every router.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/log_limiter.h"
#include "router/route_holder.h"
#include "rpc/address_pool.h"
#include "rpc/lease_calls.h"
#include "router/stats.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::router {

class RegistryWatch {
 public:
  RegistryWatch(std::shared_ptr<rpc::AddressPool> registries, std::string token, TableOptions options,
                RouteHolder* holder, StatsStore* stats);
  ~RegistryWatch();
  void Start();
  void Stop();

  bool connected() const { return connected_.load(); }
  int64_t revision() const { return revision_.load(); }
  uint64_t tables_built() const { return tables_built_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  void Loop();
  // One stream until it ends, on the first registry of the list that
  // answers; true if at least one message arrived.
  bool RunStream();
  // The stream on `address` until it ends (`status`); true if a message came.
  bool StreamFrom(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                  grpc::ClientContext& ctx, grpc::Status& status);
  void Publish();

  std::shared_ptr<rpc::AddressPool> registries_;
  std::string token_;
  TableOptions options_;
  RouteHolder* holder_;
  StatsStore* stats_;

  // Owned by the loop thread.
  std::unordered_map<uint64_t, v1::Endpoint> endpoints_;
  std::map<std::string, v1::RouteConfig> routes_;
  int64_t local_revision_ = 0;
  std::string source_;  // the registry local_revision_ is from

  LogLimiter end_log_;  // loop thread: streams the registry refuses at once

  std::atomic<bool> connected_{false};
  std::atomic<int64_t> revision_{0};
  std::atomic<uint64_t> tables_built_{0};
  std::atomic<uint64_t> reconnects_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                       // guarded by mu_
  grpc::ClientContext* active_ = nullptr;   // guarded by mu_: cancelled by Stop
  std::thread thread_;
};

struct PresenceInfo {
  std::string name;         // router name (meta "name")
  std::string host;         // advertised admin host
  uint32_t admin_port = 0;
  std::string listen;       // traffic address (meta "listen")
  uint32_t ttl_s = 10;
};

// Keeps the one entry registered with rpc::LeaseShell (core/lease_keeper.h:
// KeepAlive every ttl/3, a new lease and entry after NOT_FOUND, backoff).
class RegistryPresence {
 public:
  RegistryPresence(std::shared_ptr<rpc::AddressPool> registries, std::string token, PresenceInfo info);
  ~RegistryPresence();
  void Start();
  // Deregisters (revokes the lease) and stops.
  void Stop();
  bool registered() const { return registered_.load(); }

 private:
  void Loop();
  v1::Endpoint Entry() const;

  rpc::GrpcLeaseCalls calls_;
  PresenceInfo info_;
  std::string commit_;  // per-run id: routers are "commits" of app skyport-router
  std::atomic<bool> registered_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  uint64_t lease_ = 0;  // the loop's lease once it has ended (revoked by Stop)
  std::thread thread_;
};

}  // namespace skyport::router
