// The Backend on etcd: the registry holds no authoritative state, so any
// number of registries serve one cluster and are interchangeable (the key
// layout and the mapping: etcd_keys.h; the transactions: etcd_plans.h).
//
// - A Skyport lease is the etcd lease of the same id; etcd expires it and,
//   with it, every entry and port attached to it, in one revision.
// - Writes are Txns whose compares hold what the decision read; a Txn that
//   loses a race is decided again on fresh reads, at most kMaxAttempts times
//   (then UNAVAILABLE "etcd: ... kept changing"). Ports are created only if
//   absent, so no two registries hand out one port twice.
// - Register's and Allocate's write Txns are group-committed (etcd_batcher.h):
//   concurrent ones travel nested in one etcd Txn, each with its own compares.
// - The revision is etcd's. Watch: a Range snapshot at a revision R (or a
//   resume from from_revision R while etcd still has it), then every change
//   after R from ONE etcd watch this registry shares among its watchers
//   (started at construction, over the registry's prefix, WITHOUT prev_kv:
//   the values of deleted entries are read once per update at the revision
//   before, etcd_prev.h; etcd's prev_kv is quadratic in the deletes of one
//   revision). Its updates are decoded once, kept in a window of the last
//   opts.watch_window changes (watch_window.h) and fanned out; a watcher
//   whose R is older than the window, or that comes while the shared watch
//   cannot start, gets an etcd watch of its own from R + 1 (the same reads).
//   watch_window 0: an etcd watch per watcher, always.
// - etcd unreachable or failing: UNAVAILABLE "etcd ...", never a crash; a
//   value that does not decode is DATA_LOSS for that call (counted, logged).
// Thread-safe; calls return at once and finish on the etcd client's threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "registry/backend.h"
#include "registry/etcd_batcher.h"
#include "registry/etcd_keys.h"
#include "registry/etcd_plans.h"
#include "registry/watch_window.h"
#include "rpc/etcd_client.h"

namespace skyport::registry {

struct EtcdBackendOptions {
  std::string prefix = "/skyport/";  // --etcd-prefix
  uint32_t port_lo = 10000;
  uint32_t port_hi = 20000;
  uint32_t max_ttl_s = 86400;
  size_t snapshot_chunk = 2000;  // endpoints per SNAPSHOT message, and per Range page
  int64_t lease_sweep_ms = 60'000;  // --lease-sweep: orphaned static leases (etcd_plans.h); 0 = off
  size_t watch_window = 10'000;     // --watch-window: changes kept for the shared watch; 0 = none
  TxnBatchPlan::Limits batch;       // group commit of Register and Allocate Txns (etcd_batch.h)
};

class EtcdBackend final : public Backend {
 public:
  // Txn rounds one call may spend before giving up (see above).
  static constexpr int kMaxAttempts = 16;
  // Random ports tried before an exact scan of the host's ports.
  static constexpr int kRandomPortTries = 6;

  EtcdBackend(std::shared_ptr<etcd::Client> client, EtcdBackendOptions opts, Clock* clock, Random* random);
  ~EtcdBackend() override;

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
  // "etcd-<cluster id>-<registry root>": every registry on that etcd cluster
  // and prefix (revisions are the cluster's; the prefix says whose keys).
  // Learnt from etcd at construction, asked again by the reaper while
  // unknown ("").
  std::string StoreId() const override;

  struct Counters {
    std::atomic<uint64_t> calls{0}, conflicts{0}, etcd_errors{0}, undecodable{0}, slow_port_scans{0},
        watch_snapshots{0}, watch_resumes{0}, watch_ends{0}, orphans_revoked{0}, orphans_restored{0},
        watch_prev_reads{0}, watch_backlog_ends{0}, one_trip_registers{0}, window_joins{0}, window_fallbacks{0},
        shared_reopens{0}, shared_resets{0};
  };
  class Watcher;
  struct WatchFeed;
  struct PrevWork;
  struct SharedWatch;
  // Updates of one watcher's etcd watch waiting for their deletes' values
  // (etcd_watchers.cc); beyond either bound the watcher ends and resumes.
  static constexpr size_t kMaxQueuedUpdates = 1024;
  static constexpr size_t kMaxQueuedEvents = 262'144;

 private:
  struct AllocateCall;
  struct RegisterCall;
  using Page = std::function<void(const etcdserverpb::RangeResponse&)>;

  // Counts the call in flight until `done` has run (the destructor waits);
  // `count_call`: also in the calls metric (not for the registry's own reads).
  Done Track(Done done, bool count_call = true);
  // A fresh lease or endpoint id in [1, kMaxId].
  uint64_t NewId();
  uint64_t NextRandom();
  // Reads every key under `prefix` at `revision` (0: now), snapshot_chunk
  // keys a page; `page` gets each page (all at the first page's revision).
  void RangeAll(std::string prefix, int64_t revision, bool keys_only, Page page, std::function<void(Status)> done);
  // The same over [key, range_end).
  void RangeSpan(std::string key, std::string range_end, int64_t revision, bool keys_only, Page page,
                 std::function<void(Status)> done);
  // An error from the client as the registry answers it: UNAVAILABLE "etcd ...".
  Status FromEtcd(const Status& s);
  // A value that did not decode: counted and logged, DATA_LOSS for the call.
  Status Undecodable(const Status& s);

  // Query with a lease_id: the lease's endpoint keys, read `from` on in
  // bounded Txns.
  void QueryLease(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done);
  void QueryLeaseRead(const v1::QueryRequest& req, v1::QueryResponse* resp, Done done,
                      std::shared_ptr<const std::vector<std::string>> keys, size_t from);
  // Allocate (etcd_ports.cc).
  void AllocateReadReserved(std::shared_ptr<AllocateCall> c);
  void AllocateFromIndex(std::shared_ptr<AllocateCall> c, std::optional<Versioned<Allocation>> index);
  void AllocateDecide(std::shared_ptr<AllocateCall> c, AllocateDecision d);
  void AllocatePick(std::shared_ptr<AllocateCall> c);
  void AllocateScan(std::shared_ptr<AllocateCall> c);
  void AllocateReadIndex(std::shared_ptr<AllocateCall> c, Status none_free);
  void AllocateTry(std::shared_ptr<AllocateCall> c, uint32_t port);
  // Register, Deregister, ReleasePort (etcd_ports.cc).
  void RegisterRound(std::shared_ptr<RegisterCall> c);
  void RegisterWrite(std::shared_ptr<RegisterCall> c);
  void DeregisterRound(uint64_t id, v1::DeregisterResponse* resp, Done done, int attempt);
  void EndStaticLease(uint64_t lease_id, std::function<void()> then);
  void ReleaseRound(const v1::ReleasePortRequest& req, Done done, int attempt);
  // Watch (etcd_watchers.cc).
  void WatchFrom(std::shared_ptr<Watcher> w, int64_t from_revision);
  void WatchSnapshot(std::shared_ptr<Watcher> w);
  // The watcher has every change through `after`: the rest from the shared
  // watch when it can (JoinShared), else from an etcd watch of its own.
  void Follow(std::shared_ptr<Watcher> w, int64_t after);
  void WatchEtcd(std::shared_ptr<Watcher> w, int64_t start_revision);
  // What an etcd watch behind a feed delivers: a compaction or a final error
  // ends the feed (FeedFailed), events go to Feed.
  void OnEtcdUpdate(const std::shared_ptr<WatchFeed>& f, etcd::WatchUpdate u);
  // The etcd watch or a read behind a feed failed: `raw` is the client's
  // status (OUT_OF_RANGE: compacted). A watcher's own feed ends its stream;
  // the shared one re-opens or resets (DecideSharedEnd).
  void FeedFailed(WatchFeed& f, const Status& raw, bool compacted);
  // The shared watch (etcd_shared_watch.cc). StartShared: learns etcd's
  // revision C and watches from C + 1 (kIdle), or re-opens from the last
  // revision delivered (kReopen); the reaper retries.
  void StartShared();
  void OpenShared(std::shared_ptr<WatchFeed> feed, int64_t from_revision);
  void JoinShared(std::shared_ptr<Watcher> w, int64_t after);
  void FallBack(std::shared_ptr<Watcher> w, int64_t after, const char* why);
  // One update of the shared watch, its deletes' values read: into the window, then to every watcher on it.
  void Publish(WatchFeed& f, const etcd::WatchUpdate& u);
  // The shared feed ended (`gone`: etcd no longer has what it needs,
  // `behind`: etcd is behind it): DecideSharedEnd says re-open or reset.
  void EndShared(WatchFeed& f, const Status& why, bool gone, bool behind);
  // Drops watchers that left; takes the etcd watches to destroy (outside any lock).
  std::vector<std::unique_ptr<etcd::Watch>> TidyShared(bool all);
  // An etcd watch update, queued behind the ones before it; then Drain.
  void Feed(const std::shared_ptr<WatchFeed>& f, etcd::WatchUpdate u);
  // Pushes the queued updates in order, reading their deletes' values first.
  void Drain(std::shared_ptr<WatchFeed> f);
  void ReadPrev(std::shared_ptr<WatchFeed> f, std::shared_ptr<PrevWork> work, size_t next);
  void PushUpdate(WatchFeed& f, const etcd::WatchUpdate& u);
  // Ends a watcher's stream (it resumes) and hands it to the reaper.
  void EndWatcher(WatchFeed& f, const Status& why);
  void ReapLoop();
  // Asks etcd for its cluster id (StoreId), once at a time.
  void LearnClusterId();
  // The sweep of orphaned static leases (etcd_sweep.cc, etcd_plans.h DecideOrphanLease).
  void SweepLoop();
  // One sweep: acts on `suspects` still without a record; returns this sweep's.
  std::set<uint64_t> SweepOnce(const std::set<uint64_t>& suspects);

  std::shared_ptr<etcd::Client> client_;
  TxnBatcher batcher_;  // Register's and Allocate's writes
  std::atomic<uint64_t> cluster_id_{0};
  std::atomic<bool> learning_cluster_id_{false};
  EtcdBackendOptions opts_;
  EtcdKeys keys_;
  Clock* clock_;
  std::mutex random_mu_;
  Random* random_;  // guarded by random_mu_
  Counters counters_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t inflight_ = 0;                            // guarded by mu_
  std::vector<std::shared_ptr<Watcher>> watchers_;  // guarded by mu_
  bool stop_ = false;                               // guarded by mu_
  std::unique_ptr<SharedWatch> shared_;             // null when opts_.watch_window == 0; has its own lock
  std::thread reaper_;
  std::thread sweeper_;
};

}  // namespace skyport::registry
