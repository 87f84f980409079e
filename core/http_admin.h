// A tiny HTTP/1.0 server for admin endpoints (/metrics, /healthz, /stats):
// one thread, one short request per connection, GET only. Not for traffic.
// And the matching blocking client, AdminGet.
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
};

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(const AdminRequest&)>;
  // Binds HOST:PORT (port 0 = any free port) and serves `routes` (by exact
  // path) until destroyed. Answers itself: 431 for request heads over 8 KiB,
  // 400 for malformed ones (bad %-escapes in the query too), 405 for anything
  // but GET, 401 (with `WWW-Authenticate: Bearer`) when opts.token is set and
  // the path is not open and `Authorization: Bearer <token>` is missing or
  // wrong, 404 for unknown paths. A client gets 2 s to send its request head.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& address, std::map<std::string, Handler> routes,
                                                    AdminOptions opts = {});
  ~AdminServer();
  int port() const { return port_; }

 private:
  AdminServer(int fd, int port, std::map<std::string, Handler> routes, AdminOptions opts);
  void Loop();
  void Serve(int conn);

  int fd_;
  int port_;
  std::map<std::string, Handler> routes_;
  AdminOptions opts_;
  std::atomic<bool> stop_{false};
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
