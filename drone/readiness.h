// Is an app answering yet? One attempt is a TCP connect to host:port and,
// when a health path is set, a GET of that path that must answer 2xx/3xx.
// An attempt is a small state machine driven by poll(), so the supervisor's
// single thread never blocks on a slow app.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/http_client.h"

namespace skyport::drone {

enum class ProbeState { kPending, kReady, kNotReady };

// One attempt over the one HTTP client (core/http_client.h): a TCP connect,
// or a GET read up to its status line.
class ReadyProbe {
 public:
  // Starts an attempt (non-blocking connect). It may already be finished,
  // e.g. kNotReady for an unresolvable host or a refused connection.
  static std::unique_ptr<ReadyProbe> Begin(const std::string& host, uint32_t port, std::string health_path);
  ReadyProbe(const ReadyProbe&) = delete;
  ReadyProbe& operator=(const ReadyProbe&) = delete;

  ProbeState state() const { return state_; }
  const std::string& error() const { return error_; }  // why kNotReady
  // While kPending: the fd and the poll events to wait for.
  int fd() const { return exchange_->fd(); }
  short events() const { return exchange_->events(); }
  // Advances after poll() reported `revents` on fd().
  void OnEvents(short revents);

 private:
  ReadyProbe() = default;
  void Judge();  // state_ and error_ from a finished exchange

  std::string host_;
  bool tcp_only_ = true;  // no health path: a connection is an answer
  std::unique_ptr<HttpExchange> exchange_;
  ProbeState state_ = ProbeState::kPending;
  std::string error_;
};

// A whole attempt, blocking for at most `timeout_ms` (for tools and tests).
bool CheckReady(const std::string& host, uint32_t port, const std::string& health_path, int timeout_ms);

}  // namespace skyport::drone
