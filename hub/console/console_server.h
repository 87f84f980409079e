// The console's HTTP server (hub/console/API.md): the single-page app and its
// assets, login sessions, the JSON API and server-sent events, on
// Boost.Beast like the git listener (hub/git/git_http.cc), with its bounds:
// connections (server and per client address), request head and body sizes,
// header/body/idle/write timeouts, SSE streams, and data calls in flight.
// Each bound that bites is counted (Metrics) and logged (rate-limited).
//
// Threads: `threads` I/O threads run the connections' coroutines and never
// block; every data call (which asks the hub, registry or routers and may take
// up to its RPC deadline) runs on a pool of `workers` threads. A slow client
// costs only its own coroutine: writes have a deadline, after which the
// connection (an SSE stream too) is closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/console/console_data.h"
#include "hub/console/login_limiter.h"
#include "hub/console/session_table.h"

namespace skyport::hub::console {

struct ConsoleOptions {
  std::string listen = "127.0.0.1:6004";  // HOST:PORT, port 0 = any free port
  std::string token;                      // the cluster token: login, and Bearer for scripts
  bool secure_cookie = false;             // add Secure to the session cookie (served behind TLS)
  // Host names answered besides IP literals and localhost (host_check.h: DNS rebinding); an
  // Origin naming one of them is the console's own (a TLS proxy may pass its own Host).
  std::vector<std::string> hosts;
  int threads = 2;                        // I/O threads
  int workers = 4;                        // threads for data calls
  int max_pending_calls = 32;             // data calls running or queued; beyond: 503
  int max_connections = 256;
  int max_connections_per_client = 64;
  int max_sse_streams = 32;               // GET /api/events streams at once; beyond: 503
  uint64_t max_body_bytes = 64 << 10;     // POST bodies; beyond: 413
  uint32_t max_header_bytes = 16 << 10;   // request heads; beyond: 431
  int idle_timeout_s = 60;                // keep-alive wait for the next request
  int header_timeout_s = 10;              // a request head, from its first byte
  int body_timeout_s = 10;                // a request body
  int write_timeout_s = 10;               // one response, or one SSE event
  int sse_interval_ms = 1000;             // between SSE events
  SessionLimits sessions;
  LoginLimits logins;
  // A cheap digest of the state the pages show (e.g. desired state, flights,
  // drones); polled once per sse_interval_ms by one timer, never per stream.
  std::function<uint64_t()> state_version;
};

class ConsoleServer {
 public:
  // Binds and serves until destroyed. `data` is not owned and outlives the server.
  static Result<std::unique_ptr<ConsoleServer>> Start(ConsoleOptions opts, ConsoleData* data);
  virtual ~ConsoleServer() = default;
  virtual int port() const = 0;
  // Prometheus text: skyport_hub_console_* (requests, refusals by bound, logins, sessions, SSE streams).
  virtual std::string Metrics() const = 0;
};

// True for a loopback listen address (127.0.0.0/8, ::1, localhost).
bool IsLoopbackListen(const std::string& listen);

}  // namespace skyport::hub::console
