// A tiny HTTP/1.0 server for admin endpoints (/metrics, /healthz, /stats):
// one thread multiplexing a bounded number of connections, one short request
// per connection, GET only. Not for traffic.
// And the matching blocking client, AdminGet (over core/http_client.h).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"

namespace skyport {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct AdminRequest {
  std::string method;                        // "GET" (nothing else reaches a handler)
  std::string path;                          // without the query, as sent
  std::map<std::string, std::string> query;  // url-decoded; the last of repeated keys wins
};

struct AdminOptions {
  std::string token;  // "" = no auth
  // Served without the token even when one is set.
  std::set<std::string> open_paths{"/healthz", "/metrics"};
  // When set, /metrics needs `Authorization: Bearer <metrics_token>` (or
  // the admin token), open path or not. When empty and the listener is not
  // on loopback, Start logs a warning: the metrics name apps and commits.
  std::string metrics_token;
  // Connections served at once. One more arriving at the cap sheds the
  // oldest connection that is still sending its head (a slow or idle client
  // is the one to go), or is refused when none is.
  int max_connections = 64;
  // Time a client has to send its whole request head (408 after it), and to
  // take the whole response.
  int read_timeout_ms = 2000;
  int write_timeout_ms = 5000;
};

// The flag values behind AdminOptions (core/flags.h: AddAdminFlags).
struct AdminFlags {
  std::string metrics_token_file;  // else env `metrics_token_env`; "" = /metrics as open_paths say
  std::string metrics_token_env = "SKYPORT_METRICS_TOKEN";  // the daemon's own (AddAdminFlags)
  int max_connections = 64;
  int read_timeout_ms = 2000;
};

// Checks the flags and loads the metrics token (--metrics-token-file, else
// `env_metrics_token`); `admin_token` is the admin token ("" = none).
Result<AdminOptions> AdminOptionsFromFlags(const AdminFlags& flags, std::string admin_token,
                                           const std::string& env_metrics_token);
// The same, with the metrics token from the environment (flags.metrics_token_env).
Result<AdminOptions> AdminOptionsFromFlagsAndEnv(const AdminFlags& flags, std::string admin_token);

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(const AdminRequest&)>;
  // Binds HOST:PORT (port 0 = any free port) and serves `routes` (by exact
  // path) until destroyed, on one thread that multiplexes up to
  // opts.max_connections connections (handlers are called one at a time).
  // Answers itself: 431 for request heads over 8 KiB, 400 for malformed ones
  // (bad %-escapes in the query too), 405 for anything but GET, 408 when the
  // head is not complete within opts.read_timeout_ms, 401 (with
  // `WWW-Authenticate: Bearer`) when opts.token is set and the path is not
  // open and `Authorization: Bearer <token>` is missing or wrong (likewise
  // for /metrics with opts.metrics_token), 404 for unknown paths. The
  // server's own counters (skyport_admin_*) are appended to /metrics.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& address, std::map<std::string, Handler> routes,
                                                    AdminOptions opts = {});
  ~AdminServer();
  int port() const { return port_; }
  // Prometheus text of the listener's counters.
  std::string MetricsText() const;

 private:
  struct Conn;
  AdminServer(int fd, int port, std::map<std::string, Handler> routes, AdminOptions opts);
  void Loop();
  // The whole response to the request head `req` (`timed_out`: the read deadline passed first).
  std::string Respond(const std::string& req, bool timed_out);

  int fd_;
  int port_;
  std::map<std::string, Handler> routes_;
  AdminOptions opts_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> shed_{0};
  std::atomic<uint64_t> timeouts_{0};
  std::atomic<int64_t> open_{0};
  std::thread thread_;
};

// GET `path_and_query` from the admin server at `address` (HOST:PORT) over
// HTTP/1.0, with `Authorization: Bearer <token>` unless token is "". Blocks
// for at most `timeout_ms` in all. Any HTTP status is a response (the caller
// judges it); UNAVAILABLE when it cannot connect, the deadline passes or the
// answer is not HTTP; RESOURCE_EXHAUSTED when it exceeds 16 MiB;
// INVALID_ARGUMENT for a bad address.
Result<AdminResponse> AdminGet(const std::string& address, const std::string& path_and_query,
                               const std::string& token, int timeout_ms);

// "HOST:PORT" -> host, port; "[v6]:PORT" too.
Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

// "a=1&b=x%20y+z" -> {a: "1", b: "x y z"}; INVALID_ARGUMENT for a bad %-escape.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace skyport
