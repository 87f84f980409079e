// EtcdBackend: Watch. Each watcher is a resumable etcd watch over the
// registry's keys, greeted by a resume marker or a snapshot. The etcd watch
// has no prev_kv (etcd_prev.h says why): the values of deleted entries are
// read here, at the revision before the delete, before the update is pushed.
#include <deque>

#include <fmt/format.h>

#include "core/log.h"
#include "registry/etcd_backend.h"
#include "registry/etcd_events.h"
#include "registry/etcd_plans.h"
#include "registry/etcd_prev.h"
#include "registry/snapshot_chunker.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::registry {

// What a watcher's etcd watch and its reads share: the reads may finish
// after the reaper dropped the Watcher (the Feed does not own the etcd watch,
// so no read ever tears one down on a client thread).
struct EtcdBackend::WatchFeed {
  WatchFeed(std::shared_ptr<WatchSink> s, std::string a) : sink(std::move(s)), app(std::move(a)) {}
  std::shared_ptr<WatchSink> sink;
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

void EtcdBackend::Watch(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app) {
  auto w = std::make_shared<Watcher>(std::move(sink), std::move(app));
  {
    std::lock_guard lock(mu_);
    if (stop_) return w->feed->sink->Close(Status::Unavailable("registry is shutting down"));
    watchers_.push_back(w);
  }
  if (from_revision > 0) return WatchFrom(std::move(w), from_revision);
  WatchSnapshot(std::move(w));
}

void EtcdBackend::EndWatcher(WatchFeed& f, const Status& why) {
  if (f.ended.exchange(true)) return;
  ++counters_.watch_ends;
  f.sink->Close(why);
  cv_.notify_all();
}

void EtcdBackend::WatchFrom(std::shared_ptr<Watcher> w, int64_t from) {
  // Is `from` still in etcd's history? A Range at that revision says: etcd
  // refuses a compacted or a future revision with OUT_OF_RANGE.
  etcdserverpb::RangeRequest probe = RangePrefix(keys_.root(), 1, from);
  probe.set_count_only(true);
  client_->Range(std::move(probe), [this, w, from](auto got) {
    if (!got.ok()) {
      if (got.status().code() == Code::kOutOfRange) return WatchSnapshot(w);
      return EndWatcher(*w->feed, FromEtcd(got.status()));
    }
    ++counters_.watch_resumes;
    v1::WatchResponse hello;
    hello.set_kind(v1::WatchResponse::DELTA);
    hello.set_revision(from);
    hello.set_resumed(true);
    if (!w->sink->Push(std::move(hello))) return EndWatcher(*w->feed, Status::Ok());
    WatchEtcd(w, from + 1);
  });
}

void EtcdBackend::WatchSnapshot(std::shared_ptr<Watcher> w) {
  ++counters_.watch_snapshots;
  auto routes = std::make_shared<std::vector<v1::RouteConfig>>();
  auto revision = std::make_shared<int64_t>(0);
  RangeAll(
      keys_.RoutePrefix(), 0, false,
      [this, routes, revision](const etcdserverpb::RangeResponse& page) {
        if (*revision == 0) *revision = page.header().revision();
        for (const auto& kv : page.kvs()) {
          auto r = DecodeRoute(keys_, kv);
          if (r.ok()) routes->push_back(std::move(*r));
          else Undecodable(r.status());
        }
      },
      [this, w, routes, revision](Status s) {
        if (!s.ok()) return EndWatcher(*w->feed, FromEtcd(s));
        auto chunks = std::make_shared<SnapshotChunker>(w->app, opts_.snapshot_chunk, *revision);
        for (const auto& r : *routes) chunks->AddRoute(r);
        RangeAll(
            keys_.EndpointPrefix(), *revision, false,
            [this, w, chunks](const etcdserverpb::RangeResponse& page) {
              for (const auto& kv : page.kvs()) {
                auto ep = DecodeEndpoint(keys_, kv);
                if (ep.ok()) chunks->AddEndpoint(*ep);
                else Undecodable(ep.status());
              }
            },
            [this, w, chunks, revision](Status s2) {
              // Compacted while paging (or etcd failed): nothing was sent (a client
              // cut off mid-snapshot could mistake a part for the whole); it
              // starts over when the stream ends.
              if (!s2.ok()) return EndWatcher(*w->feed, FromEtcd(s2));
              for (auto& m : chunks->Finish()) w->sink->Push(std::move(m));
              WatchEtcd(w, *revision + 1);
            });
      });
}

void EtcdBackend::WatchEtcd(std::shared_ptr<Watcher> w, int64_t start) {
  std::shared_ptr<WatchFeed> feed = w->feed;
  auto watch = etcd::StartWatch(client_, RegistryWatchSpec(keys_, start), [this, feed](etcd::WatchUpdate u) {
    if (feed->ended) return;
    if (!u.error.ok()) return EndWatcher(*feed, FromEtcd(u.error));
    if (u.compact_revision > 0)
      return EndWatcher(*feed, Status::Unavailable(fmt::format(
                                   "etcd: history compacted through revision {}; watch again from your revision",
                                   u.compact_revision)));
    Feed(feed, std::move(u));
  });
  std::lock_guard lock(mu_);
  w->etcd = std::move(watch);
}

void EtcdBackend::Feed(const std::shared_ptr<WatchFeed>& f, etcd::WatchUpdate u) {
  size_t updates = 0, events = 0;
  bool overflow = false;
  {
    std::lock_guard lock(f->mu);
    // One update alone is always taken (etcd's message size bounds it): a
    // lease's end bigger than the bound must not end every resume again.
    overflow = !f->queue.empty() && (f->queue.size() >= kMaxQueuedUpdates ||
                                     f->queued_events + u.events.size() > kMaxQueuedEvents);
    if (!overflow) {
      f->queued_events += u.events.size();
      f->queue.push_back(std::move(u));
      if (f->draining) return;  // the drainer takes it in turn
      f->draining = true;
    } else {
      updates = f->queue.size(), events = f->queued_events;
      f->queue.clear();
      f->queued_events = 0;
    }
  }
  if (!overflow) return Drain(f);
  // The client resumes from the revision it has, once etcd's reads catch up.
  ++counters_.watch_backlog_ends;
  log::Warn("watcher ended: etcd updates queued behind reads of deleted entries past the bound",
            {{"updates", static_cast<int64_t>(updates)}, {"events", static_cast<int64_t>(events)},
             {"max_updates", static_cast<int64_t>(kMaxQueuedUpdates)},
             {"max_events", static_cast<int64_t>(kMaxQueuedEvents)}});
  EndWatcher(*f, Status::Unavailable("registry: this watch fell behind etcd; watch again from your revision"));
}

void EtcdBackend::Drain(std::shared_ptr<WatchFeed> f) {
  for (;;) {
    auto work = std::make_shared<PrevWork>();
    {
      std::lock_guard lock(f->mu);
      if (f->queue.empty() || f->ended) {
        f->draining = false;
        return;
      }
      work->update = std::move(f->queue.front());
      f->queue.pop_front();
      f->queued_events -= work->update.events.size();
    }
    work->plan = PlanPrevReads(keys_, work->update.events);
    if (!work->plan.reads.empty()) return ReadPrev(std::move(f), std::move(work), 0);  // it drains on
    PushUpdate(*f, work->update);
  }
}

void EtcdBackend::ReadPrev(std::shared_ptr<WatchFeed> f, std::shared_ptr<PrevWork> work, size_t next) {
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    stopping = stop_;
  }
  if (stopping) EndWatcher(*f, Status::Unavailable("registry is shutting down"));  // the destructor waits no longer
  if (f->ended) {
    std::lock_guard lock(f->mu);
    f->draining = false;
    return;
  }
  if (next == work->plan.reads.size()) {
    PushUpdate(*f, work->update);
    return Drain(std::move(f));
  }
  ++counters_.watch_prev_reads;
  const PrevRead& read = work->plan.reads[next];
  Done done = Track(
      [this, f, work, next](const Status& s) {
        if (!s.ok()) {
          // A compacted revision included: the client resumes, and takes a snapshot.
          EndWatcher(*f, FromEtcd(s));
          std::lock_guard lock(f->mu);
          f->draining = false;
          return;
        }
        ReadPrev(f, work, next + 1);
      },
      false);
  auto page = [work, at = read.revision](const etcdserverpb::RangeResponse& got) {
    AttachPrev(work->plan, at, got.kvs(), work->update.events);
  };
  if (!read.range_end.empty()) return RangeSpan(read.key, read.range_end, read.revision, false, page, done);
  etcdserverpb::RangeRequest r;
  r.set_key(read.key);
  r.set_revision(read.revision);
  client_->Range(std::move(r), [page, done](Result<etcdserverpb::RangeResponse> got) {
    if (!got.ok()) return done(got.status());
    page(*got);
    done(Status::Ok());
  });
}

void EtcdBackend::PushUpdate(WatchFeed& f, const etcd::WatchUpdate& u) {
  Delta d = ToDelta(keys_, u.events, u.revision, f.app);
  if (d.undecodable > 0) {
    counters_.undecodable += d.undecodable;
    log::Error("undecodable values in etcd watch events skipped",
               {{"count", static_cast<int64_t>(d.undecodable)}, {"error", d.first_error}});
  }
  if (d.message && !f.sink->Push(std::move(*d.message))) EndWatcher(f, Status::Ok());
}

void EtcdBackend::ReapLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // Every second at least: a watcher whose client left without a change to
    // tell it about is found here, and its etcd watch cancelled.
    cv_.wait_for(lock, std::chrono::seconds(1));
    std::vector<std::shared_ptr<Watcher>> gone;
    std::erase_if(watchers_, [&](std::shared_ptr<Watcher>& w) {
      if (!w->feed->ended && w->sink->Open()) return false;
      gone.push_back(std::move(w));
      return true;
    });
    lock.unlock();
    gone.clear();  // destroys their etcd watches outside the lock
    if (cluster_id_.load() == 0) LearnClusterId();
    lock.lock();
  }
}

}  // namespace skyport::registry
