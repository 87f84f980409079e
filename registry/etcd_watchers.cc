// EtcdBackend: Watch. A watcher is greeted by a resume marker or a snapshot,
// then follows the shared etcd watch (etcd_shared_watch.cc) or, when that
// cannot serve it, an etcd watch of its own over the registry's keys. No
// etcd watch has prev_kv (etcd_prev.h says why): the values of deleted
// entries are read here, at the revision before the delete, before the
// update goes on (to the watcher, or to the shared watch's window).
#include <fmt/format.h>

#include "core/log.h"
#include "registry/etcd_backend.h"
#include "registry/etcd_events.h"
#include "registry/etcd_plans.h"
#include "registry/etcd_prev.h"
#include "registry/etcd_watch_feed.h"
#include "registry/snapshot_chunker.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::registry {

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
  if (f.sink == nullptr) return EndShared(f, why, false, false);
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
    Follow(w, from);
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
              Follow(w, *revision);
            });
      });
}

void EtcdBackend::Follow(std::shared_ptr<Watcher> w, int64_t after) {
  if (shared_) return JoinShared(std::move(w), after);
  WatchEtcd(std::move(w), after + 1);
}

void EtcdBackend::WatchEtcd(std::shared_ptr<Watcher> w, int64_t start) {
  std::shared_ptr<WatchFeed> feed = w->feed;
  auto watch = etcd::StartWatch(client_, RegistryWatchSpec(keys_, start),
                                [this, feed](etcd::WatchUpdate u) { OnEtcdUpdate(feed, std::move(u)); });
  std::lock_guard lock(mu_);
  w->etcd = std::move(watch);
}

void EtcdBackend::OnEtcdUpdate(const std::shared_ptr<WatchFeed>& f, etcd::WatchUpdate u) {
  if (f->ended) return;
  if (!u.error.ok()) return FeedFailed(*f, u.error, false);
  if (u.compact_revision > 0)
    return FeedFailed(*f,
                      Status(Code::kOutOfRange, fmt::format("etcd: history compacted through revision {}; "
                                                            "watch again from your revision",
                                                            u.compact_revision)),
                      true);
  Feed(f, std::move(u));
}

void EtcdBackend::FeedFailed(WatchFeed& f, const Status& raw, bool compacted) {
  const Status why = compacted ? Status::Unavailable(raw.message()) : FromEtcd(raw);
  if (f.sink != nullptr) return EndWatcher(f, why);
  EndShared(f, why, compacted || raw.code() == Code::kOutOfRange, raw.code() == Code::kAborted);
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
  // The client resumes (the shared watch re-opens) from the revision it has, once etcd's reads catch up.
  ++counters_.watch_backlog_ends;
  log::Warn(f->sink != nullptr
                ? "watcher ended: etcd updates queued behind reads of deleted entries past the bound"
                : "shared etcd watch ended: updates queued behind reads of deleted entries past the bound",
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
          FeedFailed(*f, s, false);
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
  if (f.sink == nullptr) return Publish(f, u);
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
    if (shared_) {
      TidyShared(false).clear();
      StartShared();  // when it is down or waits to re-open (at most once a second)
    }
    if (cluster_id_.load() == 0) LearnClusterId();
    lock.lock();
  }
}

}  // namespace skyport::registry
