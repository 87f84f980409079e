// A tiny HTTP/1.0 server for admin endpoints (/metrics, /healthz): one
// thread, one short request per connection, GET only. Not for traffic.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace skyport {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  using Handler = std::function<AdminResponse()>;
  // Binds HOST:PORT (port 0 = any free port) and serves `routes` until destroyed.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& address, std::map<std::string, Handler> routes);
  ~AdminServer();
  int port() const { return port_; }

 private:
  AdminServer(int fd, int port, std::map<std::string, Handler> routes);
  void Loop();
  void Serve(int conn);

  int fd_;
  int port_;
  std::map<std::string, Handler> routes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// "HOST:PORT" -> host, port; "[v6]:PORT" too.
Result<std::pair<std::string, int>> SplitHostPort(const std::string& address);

}  // namespace skyport
