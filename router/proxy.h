// The router's data plane: an HTTP/1.1 reverse proxy on epoll, one event loop
// per thread, each with its own SO_REUSEPORT listener, connection pools and
// stats shard, so threads share nothing on the hot path but the route-table
// version counter.
//
// Per request: the app by Host / path prefix, the arm from the user's sticky
// cookie (or the X-Skyport-Commit override where allowed), an instance of the
// arm by round robin or least outstanding requests, skipping instances that
// just refused connections; a pooled keep-alive connection to it or a new one
// (a connection goes back to the pool only when nothing on it can be meant for
// someone else: see ProxyOptions::reuse_after_body). Framing is rewritten,
// paths normalised and Host checked before routing (router/http1.h, uri.h).
// Bodies stream both ways with back-pressure; WebSocket upgrades become
// tunnels. Connect failures are retried on another instance; errors the router
// makes itself are 400/404/408/431/501/502/503/504/505 with a text body.
#pragma once

#include <atomic>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "router/instance_picker.h"  // Balance
#include "router/rate_limit.h"
#include "router/route_holder.h"
#include "router/stats.h"
#include "router/stats_shipper.h"

namespace skyport::router {

// The labels of skyport_router_local_responses_total: every error status the
// router answers itself has its own; anything else counts as "other".
inline constexpr const char* kLocalErrorCodes[] = {"400", "401", "404", "405", "408", "411", "413", "431",
                                                   "501", "502", "503", "504", "505", "other"};
inline constexpr int kLocalErrorLabels = static_cast<int>(std::size(kLocalErrorCodes));
// The index of `status` in kLocalErrorCodes (the last, "other", when not listed).
constexpr int LocalErrorIndex(int status) {
  for (int i = 0; i + 1 < kLocalErrorLabels; ++i) {
    int code = 0;
    for (const char* p = kLocalErrorCodes[i]; *p; ++p) code = code * 10 + (*p - '0');
    if (code == status) return i;
  }
  return kLocalErrorLabels - 1;
}

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
  // Client connections open at once, over all threads (each gets its share);
  // at the cap the oldest connection that has not sent a whole request head
  // (else the oldest idle keep-alive one) is closed for the new one, or the
  // new one is refused. 0 = derived from RLIMIT_NOFILE (about half of it:
  // each client may need an upstream connection too).
  int max_connections = 0;
  // A request body must arrive within this (from its head) or, with
  // min_body_rate > 0, average at least min_body_rate bytes/s once this has
  // passed; else the exchange is cut (408 if nothing was answered yet).
  int body_timeout_ms = 60000;
  int min_body_rate = 0;                  // bytes/s; 0 = body_timeout_ms is a whole-body deadline
  int pool_per_instance = 256;            // idle upstream connections kept per instance and thread
  int max_attempts = 3;                   // connect attempts (distinct instances) per request
  int eject_ms = 2000;                    // an instance that refused a connect is skipped this long
  size_t max_head_bytes = 32 * 1024;      // request and response heads; larger -> 431 / 502
  std::string cookie_name = "skyport";
  int cookie_max_age_s = 365 * 24 * 3600;
  // The user cookie's HMAC secret (router/user_cookie.h): required (the
  // daemon derives it from the cluster token when no file gives one), and a
  // previous secret still accepted during a rotation ("" = none).
  std::string cookie_secret;
  std::string cookie_secret_previous;
  // Unsigned legacy cookies keep their user id until this wall time (unix
  // ms); 0 = never (they are refused: a new id).
  int64_t legacy_cookies_until_ms = 0;
  std::string forwarded_proto = "http";   // X-Forwarded-Proto
  std::string events_path = "/_skyport/events";  // POST events here (needs a shipper)
  size_t max_events_body = 64 * 1024;     // larger event bodies -> 413
  double events_max_value = 1e6;          // |value| of an event posted without the token is capped to this
  std::string token;                      // a Bearer token here lets event posts name their user
  // After a request that carried a body (Content-Length > 0 or chunked) the
  // upstream connection is closed, never pooled: an upstream that answered
  // without reading the body (python's http.server on GET, many error paths)
  // would take the body for the next request and its answer would reach the
  // next user of the connection (response desync). True: pool it anyway after
  // POST/PUT/PATCH whose body was sent whole before the answer began and whose
  // answer is not an error (trusts every app to read the bodies it answers).
  bool reuse_after_body = false;
  // Request header names with '_' are dropped (nginx's underscores_in_headers
  // off: CGI/WSGI fold '_' into '-'); true keeps them, except names that fold
  // into a field the router owns or frames with (Transfer_Encoding, Host, ...).
  bool allow_underscore_headers = false;
  // Paths with %2F / %5C: rejected (400) or decoded to '/' and '\' before
  // dot-segment removal and routing (router/uri.h).
  bool unescape_slashes = false;
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
  std::atomic<uint64_t> table_moves{0};  // requests that went on in a newer table (Worker::MoveToNewerTable)
  std::atomic<uint64_t> tunnels{0};
  std::atomic<uint64_t> pooled_idle{0};
  // User cookies refused (a new id was issued), by reason: malformed, bad
  // signature (forged or tampered), unsigned legacy outside the window.
  std::atomic<uint64_t> cookies_rejected[3]{};
  std::atomic<uint64_t> cookies_migrated{0};  // legacy cookies accepted in the window, re-issued signed
  std::atomic<uint64_t> cookies_rotated{0};   // signed with the previous secret, re-issued
  std::atomic<uint64_t> events_accepted{0};
  std::atomic<uint64_t> events_dropped{0};  // aggregator full or unattributable
  std::atomic<uint64_t> events_values_capped{0};  // browser event values capped to --events-max-value
  std::atomic<uint64_t> events_journal_full{0};  // event posts refused 503: the journal at --data-max-mb
  std::atomic<uint64_t> exposures_unjournaled{0};  // new exposures not journaled (journal full): kept until the seal
  std::atomic<uint64_t> local_errors[kLocalErrorLabels]{};  // by LocalErrorIndex
  // Upstream connections closed instead of pooled (or taken from the pool):
  std::atomic<uint64_t> unpooled_body{0};   // after a request with a body
  std::atomic<uint64_t> unpooled_extra{0};  // bytes arrived after a complete response, or on an idle connection
  std::atomic<uint64_t> invalid_responses{0};   // upstream response heads refused (502)
  std::atomic<uint64_t> underscore_dropped{0};  // request fields named with '_' not forwarded
  std::atomic<uint64_t> forwarding_dropped{0};  // client Forwarded/X-Real-IP/X-Original-URL/... not forwarded
  std::atomic<uint64_t> trailer_bytes_dropped{0};  // request trailer field bytes not forwarded
  std::atomic<uint64_t> dechunked{0};           // chunked answers sent unchunked to HTTP/1.0 clients
  std::atomic<uint64_t> paths_rewritten{0};     // request paths normalised before routing and forwarding
  std::atomic<uint64_t> paths_refused{0};       // 400: encoded slash, backslash, bad or NUL percent-encoding
  std::atomic<uint64_t> connections_shed{0};    // closed (or refused) at max_connections
  std::atomic<uint64_t> accept_errors[3]{};     // EMFILE, ENFILE, other
  std::atomic<uint64_t> slow_bodies{0};         // exchanges cut: request body too slow (body_timeout_ms)
};

class Worker;

// The total connection cap for `flag` (ProxyOptions::max_connections): the
// flag when > 0, else about half of RLIMIT_NOFILE.
int MaxConnections(int flag);

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
  int max_connections_ = 0;
  std::unique_ptr<ProxyCounters> counters_;
  std::shared_ptr<EventRateLimiter> limiter_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace skyport::router
