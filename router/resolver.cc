#include "router/resolver.h"

#include <algorithm>
#include <chrono>
#include <climits>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "router/route_build.h"

namespace skyport::router {

Resolver::Resolver(ResolverPolicy policy, OnChange on_change, ResolveFn resolve, int threads)
    : resolve_(resolve ? std::move(resolve) : ResolveFn(internal::ResolveHost)),
      on_change_(std::move(on_change)),
      threads_n_(std::max(1, threads)),
      cache_(policy) {}

Resolver::~Resolver() { Stop(); }

void Resolver::Start() {
  for (int i = 0; i < threads_n_; ++i) threads_.emplace_back([this] { Loop(); });
}

void Resolver::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

std::optional<std::string> Resolver::Lookup(const std::string& name) {
  bool queued = false;
  std::optional<std::string> out;
  {
    std::lock_guard lock(mu_);
    const size_t before = cache_.size();
    const uint64_t refused = cache_.counters().refused;
    if (const std::string* a = cache_.Lookup(name, MonoNowMs())) out = *a;
    queued = cache_.size() > before;
    if (cache_.counters().refused > refused && (cache_.counters().refused & (cache_.counters().refused - 1)) == 0)
      log::Warn("resolver cache full: a new host name is not resolved (its endpoints are not routed) until names "
                "in use go away",
                {{"name", name}, {"max_names", cache_.policy().max_names}, {"refused", cache_.counters().refused}});
  }
  if (queued) cv_.notify_one();
  return out;
}

void Resolver::Release(const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::lock_guard lock(mu_);
  for (const std::string& n : names) cache_.Release(n);
}

ResolverCounters Resolver::counters() const {
  std::lock_guard lock(mu_);
  return cache_.counters();
}

size_t Resolver::size() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

void Resolver::Loop() {
  SystemRandom rng;
  std::unique_lock lock(mu_);
  while (!stop_) {
    const int64_t now = MonoNowMs();
    std::vector<std::string> due = cache_.TakeDue(now, 1);  // one at a time: a slow name holds one thread only
    if (due.empty()) {
      const int64_t next = cache_.NextDueMs();
      if (next == INT64_MAX)
        cv_.wait(lock);
      else
        cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(next - now, 1)));
      continue;
    }
    const std::string& name = due.front();
    lock.unlock();
    Result<std::string> address = resolve_(name);
    lock.lock();
    const ResolverCache::Outcome out = cache_.OnResolved(name, address, MonoNowMs(), rng.Uniform01());
    if (out.log_failure)
      log::Warn(out.keeps_address
                    ? "cannot resolve an endpoint host again; its last address keeps serving (retried with backoff, "
                      "logged again only once it resolves)"
                    : "cannot resolve an endpoint host; its endpoints are not routed until it resolves (retried with "
                      "backoff, logged again only once it resolves)",
                {{"host", name}, {"error", address.status().message()}});
    if (out.log_recovered) log::Info("endpoint host resolves again", {{"host", name}, {"address", *address}});
    if (out.changed) {
      lock.unlock();
      on_change_({name});
      lock.lock();
    }
  }
}

}  // namespace skyport::router
