// Host names of registry endpoints, resolved off the path that applies
// registry updates. The table builder asks Lookup (never blocks on DNS: a
// name without an address yet answers nothing and is queued); resolver
// threads run getaddrinfo for the names ResolverCache says are due and
// report, through `on_change`, every name whose address appeared or changed,
// so the registry watch rebuilds the apps that use it. Policy (refresh,
// backoff, bound, when to log) is ResolverCache's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "router/resolver_cache.h"

namespace skyport::router {

class Resolver {
 public:
  using OnChange = std::function<void(std::vector<std::string> names)>;
  // Turns a name into an address; blocking. Default: getaddrinfo, IPv4 preferred.
  using ResolveFn = std::function<Result<std::string>(const std::string& name)>;

  Resolver(ResolverPolicy policy, OnChange on_change, ResolveFn resolve = nullptr, int threads = 2);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void Start();
  void Stop();

  // The address to route to now, or nullopt (then the name is queued).
  std::optional<std::string> Lookup(const std::string& name);
  void Release(const std::vector<std::string>& names);

  ResolverCounters counters() const;
  size_t size() const;

 private:
  void Loop();

  ResolveFn resolve_;
  OnChange on_change_;
  int threads_n_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  ResolverCache cache_;  // guarded by mu_
  bool stop_ = false;    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace skyport::router
