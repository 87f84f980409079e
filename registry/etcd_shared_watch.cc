// EtcdBackend: the one etcd watch a registry shares among its watchers
// (etcd_watch_feed.h draws its life cycle; watch_window.h says what a
// joining watcher gets). Its updates come through the same feed as a
// watcher's own etcd watch (etcd_watchers.cc: the reads of deleted values,
// in order, bounded), once for every watcher, and end in Publish.
#include <algorithm>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "registry/etcd_events.h"
#include "registry/etcd_watch_feed.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::registry {
namespace {

using State = EtcdBackend::SharedWatch::State;

// Start attempts (and re-opens) at most this often: etcd down must not mean
// a Range per joining watcher.
constexpr int64_t kSharedRetryMs = 1000;
constexpr const char* kOlderThanWindow = "its revision is older than the window";

}  // namespace

void EtcdBackend::StartShared() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
  }
  SharedWatch& sh = *shared_;
  std::shared_ptr<WatchFeed> feed;
  int64_t from = 0;
  size_t watchers = 0;
  {
    std::lock_guard lock(sh.mu);
    if (sh.state != State::kIdle && sh.state != State::kReopen) return;
    const int64_t now = MonoNowMs();
    if (now - sh.last_try_ms < kSharedRetryMs) return;
    sh.last_try_ms = now;
    if (sh.state == State::kReopen) {
      ++sh.reopens;
      feed = sh.feed = std::make_shared<WatchFeed>(nullptr, "");
      from = sh.next;
      watchers = sh.joined.size();
      sh.state = State::kLive;
    } else {
      sh.state = State::kStarting;
    }
  }
  if (feed) {
    log::Info("shared etcd watch re-opening from its last revision",
              {{"from_revision", from}, {"watchers", static_cast<int64_t>(watchers)}});
    return OpenShared(std::move(feed), from);
  }
  // From etcd's revision now: every change after it comes through the watch.
  etcdserverpb::RangeRequest r = RangeKey(keys_.root());
  r.set_count_only(true);
  Done done = Track([](const Status&) {}, false);
  client_->Range(std::move(r), [this, done](Result<etcdserverpb::RangeResponse> got) {
    SharedWatch& sh = *shared_;
    bool stopping = false;
    {
      std::lock_guard lock(mu_);
      stopping = stop_;
    }
    std::vector<std::function<void(bool)>> waiting;
    std::shared_ptr<WatchFeed> feed;
    int64_t at = 0;
    uint64_t suppressed = 0;
    bool log_it = false;
    {
      std::lock_guard lock(sh.mu);
      waiting.swap(sh.waiting);
      if (!got.ok()) log_it = sh.start_log.Allow(MonoNowMs(), &suppressed);
      if (got.ok() && !stopping) {
        at = got->header().revision();
        sh.window.Reset(at);
        sh.next = at + 1;
        sh.reopens = 0;
        feed = sh.feed = std::make_shared<WatchFeed>(nullptr, "");
        sh.state = State::kLive;
      } else {
        sh.state = State::kIdle;
      }
    }
    const bool live = feed != nullptr;
    if (live) {
      log::Info("shared etcd watch started", {{"after_revision", at}});
      OpenShared(std::move(feed), at + 1);
    } else if (!got.ok()) {
      const Status why = FromEtcd(got.status());
      if (log_it)
        log::Warn("shared etcd watch could not start; watchers get etcd watches of their own until it does",
                  {{"error", why.message()}, {"failures_not_logged", suppressed}});
    }
    for (auto& join : waiting) join(live);
    done(Status::Ok());
  });
}

void EtcdBackend::OpenShared(std::shared_ptr<WatchFeed> feed, int64_t from) {
  // Not under sh.mu: its updates take it.
  auto watch = etcd::StartWatch(client_, RegistryWatchSpec(keys_, from),
                                [this, feed](etcd::WatchUpdate u) { OnEtcdUpdate(feed, std::move(u)); });
  SharedWatch& sh = *shared_;
  std::lock_guard lock(sh.mu);
  if (sh.feed == feed)
    sh.etcd = std::move(watch);
  else  // it ended already
    sh.dead.push_back(std::move(watch));
}

void EtcdBackend::JoinShared(std::shared_ptr<Watcher> w, int64_t after) {
  SharedWatch& sh = *shared_;
  bool start = false, cut = false;
  const char* fall_back = nullptr;
  {
    std::lock_guard lock(sh.mu);
    if (sh.state == State::kIdle || sh.state == State::kStarting) {
      // It starts now, or within a second or two (the reaper retries): the
      // watcher waits for that start rather than taking an etcd watch of its
      // own for good (after a reset, every watcher comes back at once).
      start = sh.state == State::kIdle && MonoNowMs() - sh.last_try_ms >= kSharedRetryMs;
      sh.waiting.push_back([this, w, after](bool live) {
        if (live) return JoinShared(w, after);
        FallBack(w, after, "the shared etcd watch could not start");
      });
    } else if (auto backlog = sh.window.Since(after); !backlog) {
      fall_back = kOlderThanWindow;
    } else {
      // kLive or kReopen: the window holds every change after `after` that
      // was published; the rest comes through Publish, after this.
      for (auto& m : Backlog(*backlog, w->app, after, opts_.snapshot_chunk)) {
        if (!w->sink->Push(std::move(m))) {
          cut = true;
          break;
        }
      }
      if (!cut) sh.joined.push_back({w->feed, after});
      ++counters_.window_joins;
    }
  }
  if (cut) return EndWatcher(*w->feed, Status::Ok());
  if (fall_back != nullptr) return FallBack(std::move(w), after, fall_back);
  if (start) StartShared();
}

void EtcdBackend::FallBack(std::shared_ptr<Watcher> w, int64_t after, const char* why) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return EndWatcher(*w->feed, Status::Unavailable("registry is shutting down"));
  }
  ++counters_.window_fallbacks;
  SharedWatch& sh = *shared_;
  uint64_t suppressed = 0;
  int64_t floor = 0, events = 0;
  bool log_it = false;
  {
    std::lock_guard lock(sh.mu);
    log_it = sh.fallback_log.Allow(MonoNowMs(), &suppressed);
    floor = sh.window.floor();
    events = static_cast<int64_t>(sh.window.events());
  }
  if (log_it) {
    // Too old for the window is its bound biting: a bigger --watch-window would have served it.
    const bool bound = std::string_view(why) == kOlderThanWindow;
    log::Write(bound ? log::Level::kWarn : log::Level::kInfo,
               bound ? "watcher given an etcd watch of its own: its revision is older than the watch window"
                     : "watcher given an etcd watch of its own",
               {{"reason", why},
                {"after_revision", after},
                {"window_floor_revision", floor},
                {"window_events", events},
                {"window_max_events", opts_.watch_window},
                {"fallbacks_not_logged", suppressed}});
  }
  WatchEtcd(std::move(w), after + 1);
}

void EtcdBackend::Publish(WatchFeed& f, const etcd::WatchUpdate& u) {
  // Decoded once for every watcher; each gets its app's part (ForWatcher).
  Delta d = ToDelta(keys_, u.events, u.revision, "");
  if (d.undecodable > 0) {
    counters_.undecodable += d.undecodable;
    log::Error("undecodable values in etcd watch events skipped",
               {{"count", static_cast<int64_t>(d.undecodable)}, {"error", d.first_error}});
  }
  WindowUpdate update;
  if (d.message) update = std::make_shared<const v1::WatchResponse>(std::move(*d.message));
  std::vector<std::shared_ptr<WatchFeed>> cut;
  SharedWatch& sh = *shared_;
  {
    std::lock_guard lock(sh.mu);
    if (sh.feed.get() != &f) return;  // an ended feed's: its re-open delivers it again
    if (!u.events.empty()) sh.next = std::max(sh.next, u.events.back().kv().mod_revision() + 1);
    sh.reopens = 0;
    if (!update) return;
    sh.window.Append(update);
    std::erase_if(sh.joined, [&](const SharedWatch::Joined& j) {
      if (j.feed->ended) return true;
      auto m = ForWatcher(*update, j.feed->app, j.after);
      if (!m || j.feed->sink->Push(std::move(*m))) return false;
      cut.push_back(j.feed);  // too far behind (its queue's bound): it resumes
      return true;
    });
  }
  for (auto& c : cut) EndWatcher(*c, Status::Ok());
}

void EtcdBackend::EndShared(WatchFeed& f, const Status& why, bool gone, bool behind) {
  if (f.ended.exchange(true)) return;
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    stopping = stop_;
  }
  SharedWatch& sh = *shared_;
  std::vector<SharedWatch::Joined> ended;
  SharedEnd what = SharedEnd::kReset;
  int64_t watchers = 0, next = 0;
  {
    std::lock_guard lock(sh.mu);
    if (sh.feed.get() != &f) return;
    sh.feed.reset();
    if (sh.etcd) sh.dead.push_back(std::move(sh.etcd));  // destroyed by the reaper, not in its own callback
    if (!stopping) what = DecideSharedEnd(gone, behind, sh.reopens);
    watchers = static_cast<int64_t>(sh.joined.size());
    next = sh.next;
    if (what == SharedEnd::kReset) {
      ended.swap(sh.joined);
      sh.window.Reset(0);
      sh.reopens = 0;
      sh.state = State::kIdle;
    } else {
      sh.state = State::kReopen;
    }
  }
  if (stopping) {
    for (auto& j : ended) EndWatcher(*j.feed, Status::Unavailable("registry is shutting down"));
    return;
  }
  if (what == SharedEnd::kReset) {
    ++counters_.shared_resets;
    log::Warn("shared etcd watch ended; its watchers resume by revision",
              {{"error", why.message()}, {"watchers", watchers}, {"next_revision", next}});
  } else {
    ++counters_.shared_reopens;
    log::Warn("shared etcd watch ended; re-opening it from its last revision (watchers kept)",
              {{"error", why.message()}, {"watchers", watchers}, {"next_revision", next}});
  }
  for (auto& j : ended) EndWatcher(*j.feed, why);
  cv_.notify_all();  // the reaper re-opens or starts it
}

std::vector<std::unique_ptr<etcd::Watch>> EtcdBackend::TidyShared(bool all) {
  SharedWatch& sh = *shared_;
  std::vector<std::unique_ptr<etcd::Watch>> doomed;
  std::vector<SharedWatch::Joined> left;
  std::vector<std::function<void(bool)>> waiting;
  {
    std::lock_guard lock(sh.mu);
    doomed.swap(sh.dead);
    if (all) {
      waiting.swap(sh.waiting);
      if (sh.feed) sh.feed->ended = true;
      sh.feed.reset();
      if (sh.etcd) doomed.push_back(std::move(sh.etcd));
      left.swap(sh.joined);
      sh.state = State::kIdle;
    } else {
      std::erase_if(sh.joined, [&](SharedWatch::Joined& j) {
        if (!j.feed->ended && j.feed->sink->Open()) return false;
        left.push_back(std::move(j));
        return true;
      });
    }
  }
  for (auto& join : waiting) join(false);  // shutting down: FallBack ends them
  return doomed;  // `left` goes here, outside the lock
}

}  // namespace skyport::registry
