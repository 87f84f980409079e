// EtcdBackend: Watch. Each watcher is a resumable etcd watch over the
// registry's keys with prev_kv, greeted by a resume marker or a snapshot.
#include <fmt/format.h>

#include "core/log.h"
#include "registry/etcd_backend.h"
#include "registry/etcd_events.h"
#include "registry/etcd_plans.h"
#include "registry/snapshot_chunker.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::registry {

class EtcdBackend::Watcher {
 public:
  Watcher(std::shared_ptr<WatchSink> s, std::string a) : sink(std::move(s)), app(std::move(a)) {}
  std::shared_ptr<WatchSink> sink;
  const std::string app;
  std::atomic<bool> ended{false};     // the reaper drops it
  std::unique_ptr<etcd::Watch> etcd;  // set once; destroyed by the reaper, never from its own callback
};

void EtcdBackend::Watch(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app) {
  auto w = std::make_shared<Watcher>(std::move(sink), std::move(app));
  {
    std::lock_guard lock(mu_);
    if (stop_) return w->sink->Close(Status::Unavailable("registry is shutting down"));
    watchers_.push_back(w);
  }
  if (from_revision > 0) return WatchFrom(std::move(w), from_revision);
  WatchSnapshot(std::move(w));
}

void EtcdBackend::EndWatcher(Watcher& w, const Status& why) {
  ++counters_.watch_ends;
  w.sink->Close(why);
  w.ended = true;
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
      return EndWatcher(*w, FromEtcd(got.status()));
    }
    ++counters_.watch_resumes;
    v1::WatchResponse hello;
    hello.set_kind(v1::WatchResponse::DELTA);
    hello.set_revision(from);
    hello.set_resumed(true);
    if (!w->sink->Push(std::move(hello))) return EndWatcher(*w, Status::Ok());
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
        if (!s.ok()) return EndWatcher(*w, FromEtcd(s));
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
              if (!s2.ok()) return EndWatcher(*w, FromEtcd(s2));
              for (auto& m : chunks->Finish()) w->sink->Push(std::move(m));
              WatchEtcd(w, *revision + 1);
            });
      });
}

void EtcdBackend::WatchEtcd(std::shared_ptr<Watcher> w, int64_t start) {
  etcd::WatchSpec spec;
  spec.key = keys_.root();
  spec.range_end = etcd::PrefixEnd(keys_.root());
  spec.start_revision = start;
  spec.prev_kv = true;
  Watcher* raw = w.get();  // the reaper destroys the etcd watch before the Watcher
  auto watch = etcd::StartWatch(client_, std::move(spec), [this, raw](etcd::WatchUpdate u) {
    if (raw->ended) return;
    if (!u.error.ok()) return EndWatcher(*raw, FromEtcd(u.error));
    if (u.compact_revision > 0)
      return EndWatcher(*raw, Status::Unavailable(fmt::format(
                                  "etcd: history compacted through revision {}; watch again from your revision",
                                  u.compact_revision)));
    Delta d = ToDelta(keys_, u.events, u.revision, raw->app);
    if (d.undecodable > 0) {
      counters_.undecodable += d.undecodable;
      log::Error("undecodable values in etcd watch events skipped",
                 {{"count", static_cast<int64_t>(d.undecodable)}, {"error", d.first_error}});
    }
    if (d.message && !raw->sink->Push(std::move(*d.message))) EndWatcher(*raw, Status::Ok());
  });
  std::lock_guard lock(mu_);
  w->etcd = std::move(watch);
}

void EtcdBackend::ReapLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // Every second at least: a watcher whose client left without a change to
    // tell it about is found here, and its etcd watch cancelled.
    cv_.wait_for(lock, std::chrono::seconds(1));
    std::vector<std::shared_ptr<Watcher>> gone;
    std::erase_if(watchers_, [&](std::shared_ptr<Watcher>& w) {
      if (!w->ended && w->sink->Open()) return false;
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
