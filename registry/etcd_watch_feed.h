// EtcdBackend's watch state, shared by etcd_watchers.cc (a watcher's own
// etcd watch, the reads of deleted values) and etcd_shared_watch.cc (the one
// etcd watch the registry shares among its watchers). Internal to the
// registry's etcd backend.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/log_limiter.h"
#include "registry/etcd_backend.h"
#include "registry/etcd_prev.h"
#include "registry/watch_window.h"

namespace skyport::registry {

// The updates of one etcd watch on their way out, in order, behind the reads
// of their deletes' values. A watcher's own feed pushes to its sink; the
// shared feed (no sink) publishes to the window and every watcher on it.
// The reads may finish after the reaper dropped the Watcher (the Feed does
// not own the etcd watch, so no read ever tears one down on a client thread).
struct EtcdBackend::WatchFeed {
  WatchFeed(std::shared_ptr<WatchSink> s, std::string a) : sink(std::move(s)), app(std::move(a)) {}
  const std::shared_ptr<WatchSink> sink;  // null: the shared feed
  const std::string app;
  std::atomic<bool> ended{false};  // the reaper drops its Watcher
  std::mutex mu;
  std::deque<etcd::WatchUpdate> queue;  // guarded by mu: not yet pushed, oldest first
  size_t queued_events = 0;             // guarded by mu
  bool draining = false;                // guarded by mu: one drainer at a time pushes, in order
};

class EtcdBackend::Watcher {
 public:
  Watcher(std::shared_ptr<WatchSink> s, std::string a)
      : feed(std::make_shared<WatchFeed>(std::move(s), std::move(a))), sink(feed->sink), app(feed->app) {}
  const std::shared_ptr<WatchFeed> feed;
  const std::shared_ptr<WatchSink>& sink;
  const std::string& app;
  std::unique_ptr<etcd::Watch> etcd;  // set once; destroyed by the reaper, never from its own callback
};

// One update whose deletes' values are being read.
struct EtcdBackend::PrevWork {
  etcd::WatchUpdate update;
  PrevPlan plan;
};

// The shared etcd watch. Life cycle:
//
//   kIdle --StartShared--> kStarting --(revision C read)--> kLive (window complete after C)
//     ^                        | (read failed)                 | etcd ended it / a read failed:
//     +------------------------+                               |   DecideSharedEnd
//     +<---------------- kReset: every watcher on it ended ----+
//                                kReopen: watchers and window kept; the reaper
//                                opens it again from `next` (at most
//                                kMaxSharedReopens times without an update)
//
// Publish and JoinShared push to sinks under `mu` (pushing never blocks):
// a joining watcher gets the window's backlog and then every update after it,
// none twice and none missed.
struct EtcdBackend::SharedWatch {
  explicit SharedWatch(size_t max_events) : window(max_events) {}
  enum class State { kIdle, kStarting, kLive, kReopen };
  struct Joined {
    std::shared_ptr<WatchFeed> feed;  // the watcher's (its sink and app)
    int64_t after;                    // it had every change through this revision when it joined
  };
  std::mutex mu;
  State state = State::kIdle;         // guarded by mu
  WatchWindow window;                 // guarded by mu
  std::vector<Joined> joined;         // guarded by mu
  // Joins that came while kIdle or kStarting: run with true once kLive, false
  // if the start failed (the reaper starts it at most a second after the last try).
  std::vector<std::function<void(bool)>> waiting;  // guarded by mu
  std::shared_ptr<WatchFeed> feed;                 // guarded by mu: the running etcd watch's; null otherwise
  std::unique_ptr<etcd::Watch> etcd;               // guarded by mu
  std::vector<std::unique_ptr<etcd::Watch>> dead;  // guarded by mu: ended; the reaper destroys them
  int64_t next = 0;        // guarded by mu: the revision a re-open starts at (every change before it published)
  int reopens = 0;         // guarded by mu: since the last update published
  int64_t last_try_ms = -1'000'000;  // guarded by mu: start attempts at most one a second
  LogLimiter fallback_log;           // guarded by mu
  LogLimiter start_log;              // guarded by mu: etcd down means a failed start a second
};

}  // namespace skyport::registry
