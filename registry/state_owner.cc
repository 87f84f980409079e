#include "registry/state_owner.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "core/log.h"

namespace skyport::registry {

Result<std::unique_ptr<StateOwner>> StateOwner::Start(StateOwnerOptions opts, Clock* clock, Random* random) {
  auto store = Store::Open(opts.data_dir, opts.fsync);
  if (!store.ok()) return store.status();
  auto persisted = (*store)->Load(opts.state.history);
  if (!persisted.ok()) return persisted.status();
  auto id = (*store)->EnsureStoreId(static_cast<int64_t>(random->Next() >> 1));
  if (!id.ok()) return id.status();
  std::unique_ptr<StateOwner> owner(new StateOwner(opts, clock, random, std::move(*store)));
  owner->store_id_ = fmt::format("sqlite-{:016x}", static_cast<uint64_t>(*id));
  const size_t endpoints = persisted->endpoints.size(), leases = persisted->leases.size();
  owner->state_.Restore(std::move(*persisted), clock->MonoMs(), opts.lease_grace_ms);
  log::Info("state restored", {{"revision", owner->state_.revision()},
                               {"endpoints", static_cast<int64_t>(endpoints)},
                               {"leases", static_cast<int64_t>(leases)},
                               {"lease_grace_ms", opts.lease_grace_ms}});
  owner->thread_ = std::thread([o = owner.get()] { o->Loop(); });
  return owner;
}

StateOwner::StateOwner(StateOwnerOptions opts, Clock* clock, Random* random, std::unique_ptr<Store> store)
    : opts_(opts), clock_(clock), random_(random), store_(std::move(store)), state_(opts.state) {}

StateOwner::~StateOwner() { Stop(); }

void StateOwner::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StateOwner::Submit(Apply apply, Done done) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (stop_) {
      done(Status::Unavailable("registry is shutting down"));
      return;
    }
    wake = queue_.empty();
    queue_.push_back({std::move(apply), std::move(done)});
  }
  if (wake) cv_.notify_one();
}

void StateOwner::AddWatcher(std::shared_ptr<WatchSink> sink, int64_t from_revision, std::string app) {
  {
    std::lock_guard lock(mu_);
    joining_.push_back({std::move(sink), std::move(app), from_revision});
  }
  cv_.notify_one();
}

OwnerStats StateOwner::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void StateOwner::Loop() {
  std::vector<Call> calls;
  std::vector<Watcher> joining;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      auto next = state_.NextExpiryMs();
      auto ready = [&] { return stop_ || !queue_.empty() || !joining_.empty(); };
      // Short waits even when idle: a turn that comes much later than planned
      // tells that the registry was not running (StalledMs).
      const int64_t now = clock_->MonoMs();
      const int64_t wait_ms = next ? std::clamp<int64_t>(*next - now + 1, 0, kLoopMaxIdleMs) : kLoopMaxIdleMs;
      planned_wake_ms_ = now + wait_ms;
      cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), ready);
      if (stop_) break;
      size_t n = std::min(queue_.size(), opts_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        calls.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      joining.swap(joining_);
    }
    RunBatch(calls, joining);
    calls.clear();
    joining.clear();
  }
  // Answer whatever is still queued so that no caller hangs.
  std::deque<Call> rest;
  {
    std::lock_guard lock(mu_);
    rest.swap(queue_);
  }
  for (auto& c : rest) c.done(Status::Unavailable("registry is shutting down"));
}

void StateOwner::RunBatch(std::vector<Call>& calls, std::vector<Watcher>& joining) {
  Changes ch;
  const int64_t turn_ms = clock_->MonoMs();
  const int64_t stalled = StalledMs(planned_wake_ms_, turn_ms, last_batch_ms_);
  if (stalled > 0) {
    state_.PostponeLeases(stalled);
    log::Warn("the registry was not running for a while; leases postponed by that long",
              {{"stalled_ms", stalled}, {"leases", static_cast<int64_t>(state_.lease_count())}});
  }
  // Expire first, so that no call in this batch can use a lease that lapsed.
  size_t expired = state_.ExpireLeases(turn_ms, ch);
  std::vector<Status> results;
  results.reserve(calls.size());
  for (auto& c : calls) {
    Now now{clock_->MonoMs(), clock_->WallMs(), random_->Next()};
    results.push_back(c.apply(state_, ch, now));
  }
  if (expired > 0) log::Info("leases expired", {{"count", static_cast<int64_t>(expired)}, {"revision", state_.revision()}});

  bool committed = true;
  uint64_t commit_us = 0;
  if (!ch.empty()) {
    auto t0 = std::chrono::steady_clock::now();
    Status s = store_->Commit(ch, state_);
    commit_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
    if (!s.ok()) {
      committed = false;
      log::Error("commit failed; rolling back the batch", {{"error", s.message()}});
      // Return to exactly what is on disk; callers of this batch get the error.
      auto p = store_->Load(opts_.state.history);
      if (p.ok()) state_.Restore(std::move(*p), clock_->MonoMs(), opts_.lease_grace_ms);
      for (auto& r : results)
        if (r.ok()) r = Status::Unavailable("storage write failed; nothing was changed: " + s.message());
    } else {
      state_.TrimHistory();
    }
  }
  if (committed) Publish(ch, joining);
  else
    for (auto& w : joining) Greet(w), watchers_.push_back(std::move(w));
  for (size_t i = 0; i < calls.size(); ++i) calls[i].done(results[i]);
  last_batch_ms_ = clock_->MonoMs() - turn_ms;

  std::lock_guard lock(mu_);
  stats_.batches += ch.empty() ? 0 : 1;
  stats_.calls += calls.size();
  stats_.commit_failures += committed ? 0 : 1;
  stats_.leases_expired += expired;
  stats_.stalls += stalled > 0 ? 1 : 0;
  stats_.commit_us_total += commit_us;
  stats_.revision = state_.revision();
  stats_.endpoints = state_.endpoint_count();
  stats_.leases = state_.lease_count();
  stats_.allocations = state_.allocation_count();
  stats_.watchers = watchers_.size();
}

void StateOwner::Publish(const Changes& ch, std::vector<Watcher>& joining) {
  if (!ch.events.empty()) {
    v1::WatchResponse all;
    all.set_kind(v1::WatchResponse::DELTA);
    all.set_revision(state_.revision());
    for (const auto& e : ch.events) *all.add_events() = e;
    std::erase_if(watchers_, [&](Watcher& w) {
      if (w.app.empty()) return !w.sink->Push(all);
      v1::WatchResponse mine;
      mine.set_kind(v1::WatchResponse::DELTA);
      mine.set_revision(state_.revision());
      for (const auto& e : ch.events) {
        const std::string& app = e.has_endpoint() ? e.endpoint().app() : e.route().app();
        if (app == w.app) *mine.add_events() = e;
      }
      return mine.events_size() > 0 && !w.sink->Push(std::move(mine));
    });
  }
  // Joiners are greeted after the batch, so the batch is already in what they get.
  for (auto& w : joining) {
    Greet(w);
    watchers_.push_back(std::move(w));
  }
}

void StateOwner::Greet(Watcher& w) {
  if (w.from > 0) {
    if (auto events = state_.EventsSince(w.from, w.app)) {
      size_t i = 0;
      do {
        v1::WatchResponse r;
        r.set_kind(v1::WatchResponse::DELTA);
        r.set_revision(state_.revision());
        r.set_resumed(true);
        // Cut only between revisions: a chunk's revision is then complete, and
        // intermediate chunks carry the revision of their last event.
        for (size_t k = 0; i < events->size(); ++k, ++i) {
          if (k >= opts_.resume_chunk && (*events)[i].revision() != (*events)[i - 1].revision()) break;
          *r.add_events() = (*events)[i];
        }
        if (i < events->size()) r.set_revision(r.events(r.events_size() - 1).revision());
        w.sink->Push(std::move(r));
      } while (i < events->size());
      return;
    }
  }
  for (auto& msg : state_.Snapshot(w.app, opts_.snapshot_chunk)) w.sink->Push(std::move(msg));
}

}  // namespace skyport::registry
