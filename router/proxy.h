// The router's data plane: an HTTP/1.1 reverse proxy on epoll, one event loop
// per thread, each with its own SO_REUSEPORT listener, connection pools and
// stats shard, so threads share nothing on the hot path but the route-table
// version counter.
//
// Per request: the app by Host / path prefix, the arm from the user's sticky
// cookie (or the X-Skyport-Commit override where allowed), an instance of the
// arm by round robin or least outstanding requests, skipping instances that
// just refused connections; a pooled keep-alive connection to it or a new one.
// Bodies stream both ways with back-pressure; WebSocket upgrades become
// tunnels. Connect failures are retried on another instance; errors the router
// makes itself are 400/404/408/431/501/502/503/504/505 with a text body.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "router/rate_limit.h"
#include "router/route_holder.h"
#include "router/stats.h"
#include "router/stats_shipper.h"

namespace skyport::router {

enum class Balance { kRoundRobin, kLeastOutstanding };

struct ProxyOptions {
  std::string listen = "127.0.0.1:8080";
  int threads = 0;                        // 0 = one per core
  Balance balance = Balance::kRoundRobin;
  int connect_timeout_ms = 2000;
  int response_timeout_ms = 60000;        // upstream silent this long -> 504 (or abort once streaming)
  int client_idle_timeout_ms = 60000;     // keep-alive client with no request
  int header_timeout_ms = 10000;          // a request head still incomplete after this -> 408
  int tunnel_idle_timeout_ms = 600000;    // WebSocket tunnels
  int upstream_idle_timeout_ms = 30000;   // pooled idle upstream connections
  int pool_per_instance = 256;            // idle upstream connections kept per instance and thread
  int max_attempts = 3;                   // connect attempts (distinct instances) per request
  int eject_ms = 2000;                    // an instance that refused a connect is skipped this long
  size_t max_head_bytes = 32 * 1024;      // request and response heads; larger -> 431 / 502
  std::string cookie_name = "skyport";
  int cookie_max_age_s = 365 * 24 * 3600;
  std::string forwarded_proto = "http";   // X-Forwarded-Proto
  std::string events_path = "/_skyport/events";  // POST events here (needs a shipper)
  size_t max_events_body = 64 * 1024;     // larger event bodies -> 413
  std::string token;                      // a Bearer token here lets event posts name their user
  EventRateOptions events_rate;           // event posts beyond these get 429 + Retry-After
  std::shared_ptr<EventRateLimiter> events_limiter;  // made by Start from events_rate, shared by the workers
};

// Counters for /metrics, summed over workers (relaxed atomics, written by
// their own worker only).
struct ProxyCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> open_clients{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> upstream_connects{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> tunnels{0};
  std::atomic<uint64_t> pooled_idle{0};
  std::atomic<uint64_t> events_accepted{0};
  std::atomic<uint64_t> events_dropped{0};  // aggregator full or unattributable
  std::atomic<uint64_t> events_journal_full{0};  // event posts refused 503: the journal at --data-max-mb
  std::atomic<uint64_t> local_errors[9]{};  // 400 404 408 431 501 502 503 504 505
};

class Worker;

class Proxy {
 public:
  // Binds `options.listen` (port 0 = any) and starts the workers.
  // `shipper` (may be null): where exposures, posted events and per-minute
  // traffic go; without one the router records none of them and answers
  // event posts with 503. `journal` (may be null; only with a shipper): the
  // data dir's event journal, one writer per worker (router/journal.h).
  static Result<std::unique_ptr<Proxy>> Start(const ProxyOptions& options, RouteHolder* routes, StatsStore* stats,
                                              StatsShipper* shipper = nullptr, EventJournal* journal = nullptr);
  ~Proxy();

  int port() const { return port_; }
  int threads() const { return static_cast<int>(workers_.size()); }

  // Stops accepting; lets exchanges in flight finish for up to `drain_ms`,
  // then closes everything. Idempotent.
  void Stop(int drain_ms);

  // Prometheus text for the data-plane counters.
  std::string MetricsText() const;

 private:
  Proxy() = default;
  int port_ = 0;
  std::unique_ptr<ProxyCounters> counters_;
  std::shared_ptr<EventRateLimiter> limiter_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace skyport::router
