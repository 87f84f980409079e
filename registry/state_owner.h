// The single owner of the registry's mutable state. Calls are queued to one
// thread that applies them in batches, commits each batch to the store in
// one transaction (group commit: one fsync for many writes), and only then
// answers the callers and tells the watchers. Leases are expired by the same
// thread. Nothing else touches RegistryState.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "registry/backend.h"
#include "registry/metrics.h"
#include "registry/state.h"
#include "registry/store.h"

namespace skyport::registry {

struct StateOwnerOptions {
  StateOptions state;
  std::string data_dir;
  bool fsync = true;  // see Store::Open
  int64_t lease_grace_ms = 10'000;
  size_t max_batch = 1024;
  size_t snapshot_chunk = 2000;
  size_t resume_chunk = 2000;
};

// Times and randomness for one call, chosen by the owner thread.
struct Now {
  int64_t mono_ms;
  int64_t wall_ms;
  uint64_t random;
};


class StateOwner {
 public:
  using Apply = std::function<Status(RegistryState&, Changes&, const Now&)>;
  using Done = std::function<void(const Status&)>;

  // Opens the store, restores the state, starts the owner thread.
  static Result<std::unique_ptr<StateOwner>> Start(StateOwnerOptions opts, Clock* clock, Random* random);
  ~StateOwner();

  // `apply` runs on the owner thread; `done` runs there too, after the batch
  // is durable, with apply's status (or the storage error that lost it).
  // `done` must not block.
  void Submit(Apply apply, Done done);
  // The watcher gets the events after `from_revision` (or a snapshot when
  // that is 0 or too old), then every later change to `app` ("" = all).
  void AddWatcher(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app);
  OwnerStats Stats() const;
  // "sqlite-<16 hex>": this data directory's store (Store::EnsureStoreId).
  const std::string& store_id() const { return store_id_; }
  void Stop();

 private:
  struct Call {
    Apply apply;
    Done done;
  };
  struct Watcher {
    std::shared_ptr<WatchSink> sink;
    std::string app;
    int64_t from = 0;
  };

  StateOwner(StateOwnerOptions opts, Clock* clock, Random* random, std::unique_ptr<Store> store);
  void Loop();
  void RunBatch(std::vector<Call>& calls, std::vector<Watcher>& joining);
  void Publish(const Changes& ch, std::vector<Watcher>& joining);
  void Greet(Watcher& w);

  StateOwnerOptions opts_;
  Clock* clock_;
  int64_t planned_wake_ms_ = 0;  // owner thread: the latest the current turn should begin (StalledMs)
  int64_t last_batch_ms_ = 0;    // owner thread: how long the last batch took
  Random* random_;
  std::string store_id_;
  std::unique_ptr<Store> store_;
  RegistryState state_;  // owner thread only
  std::vector<Watcher> watchers_;  // owner thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Call> queue_;            // guarded by mu_
  std::vector<Watcher> joining_;      // guarded by mu_
  bool stop_ = false;                 // guarded by mu_
  OwnerStats stats_;                  // guarded by mu_
  std::thread thread_;
};

}  // namespace skyport::registry
