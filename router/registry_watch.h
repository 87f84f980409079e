// The router's view of the registry. RegistryWatch keeps one Watch stream
// open on a reader thread, which only reads and queues what arrives (bounded:
// beyond kMaxInboxBytes it stops reading, so gRPC's flow control and the
// registry's per-watcher bound push back). An apply thread drains everything
// queued, applies it to its mirror of the registry (router/watch_apply.h),
// rebuilds only the apps touched (router/table_build.h) and publishes one
// table per drained batch. Host names come from a resolver cache
// (router/resolver.h); a name that resolves or changes address rebuilds the
// apps using it. When the stream breaks the last table keeps serving and the
// watch resumes from its revision on the same registry, or takes a fresh
// snapshot from the next one of its --registry list. RegistryPresence registers the router's
// admin address (app "skyport-router", role "admin") under a lease it keeps
// alive, so `skyport stats` can find every router.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/latency_histogram.h"
#include "core/log_limiter.h"
#include "router/resolver.h"
#include "router/route_holder.h"
#include "router/watch_apply.h"
#include "rpc/address_pool.h"
#include "rpc/lease_calls.h"
#include "router/stats.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::router {

struct WatchCounters {
  uint64_t events_applied = 0;     // endpoints and routes of snapshots, events of deltas
  uint64_t publishes = 0;          // tables published
  uint64_t batches = 0;            // drained batches applied
  uint64_t apps_rebuilt = 0;       // apps built again (the rest of each table is shared)
  uint64_t inbox_full = 0;         // times the reader waited for the apply thread (kMaxInboxBytes)
  int64_t received_revision = 0;   // last revision the stream delivered
  int64_t published_revision = 0;  // revision of the table in use
  size_t endpoints = 0;            // in the mirror
  size_t unresolved_apps = 0;      // apps with endpoints waiting for their host to resolve
  std::array<uint64_t, kLatencyBuckets> apply_latency{};  // per publish: batch taken -> table published
  double apply_latency_sum_s = 0;
};

class RegistryWatch {
 public:
  RegistryWatch(std::shared_ptr<rpc::AddressPool> registries, std::string token, TableOptions options,
                RouteHolder* holder, StatsStore* stats, ResolverPolicy resolver_policy);
  ~RegistryWatch();
  void Start();
  void Stop();

  bool connected() const { return connected_.load(); }
  int64_t revision() const { return revision_.load(); }
  uint64_t tables_built() const { return tables_built_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }
  WatchCounters counters() const;
  const Resolver& resolver() const { return resolver_; }

  // The reader's queue bound: about 64 MiB of messages not yet applied.
  static constexpr size_t kMaxInboxBytes = size_t{64} << 20;

 private:
  struct Item {
    bool end = false;  // the stream ended
    size_t bytes = 0;
    v1::WatchResponse msg;
  };

  void Loop();
  // One stream until it ends, on the first registry of the list that
  // answers; true if at least one message arrived.
  bool RunStream();
  // Queues for the apply thread; false when stopping.
  bool Deliver(Item item);
  void ApplyLoop();
  void ApplyBatch(std::vector<Item>& items, std::vector<std::string>& names);
  void OnNamesChanged(std::vector<std::string> names);
  // The stream on `address` until it ends (`status`); true if a message came.
  bool StreamFrom(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                  grpc::ClientContext& ctx, grpc::Status& status);

  std::shared_ptr<rpc::AddressPool> registries_;
  std::string token_;
  TableOptions options_;
  RouteHolder* holder_;
  StatsStore* stats_;

  // Owned by the reader thread.
  int64_t resume_revision_ = 0;  // last complete message read: where a new stream starts
  std::string source_;           // the registry resume_revision_ is from
  std::string store_id_;         // ... and its store (WatchResponse.store_id; "" = unknown)
  LogLimiter end_log_;  // streams the registry refuses at once

  // Owned by the apply thread.
  WatchApply apply_;
  std::shared_ptr<const RouteTable> table_;
  std::set<std::string> unresolved_apps_;

  std::atomic<bool> connected_{false};
  std::atomic<int64_t> revision_{0};
  std::atomic<uint64_t> tables_built_{0};
  std::atomic<uint64_t> reconnects_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;          // apply thread: items or names arrived, or stop
  std::condition_variable space_cv_;    // reader: the inbox has room again, or stop
  bool stop_ = false;                       // guarded by mu_
  grpc::ClientContext* active_ = nullptr;   // guarded by mu_: cancelled by Stop
  std::vector<Item> inbox_;                 // guarded by mu_
  size_t inbox_bytes_ = 0;                  // guarded by mu_
  std::vector<std::string> changed_names_;  // guarded by mu_: from the resolver
  WatchCounters counters_;                  // guarded by mu_
  Resolver resolver_;                       // after mu_: its threads call OnNamesChanged
  std::thread thread_;
  std::thread apply_thread_;
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
