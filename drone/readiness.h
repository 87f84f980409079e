// Is an app answering yet? One attempt is a TCP connect to host:port and,
// when a health path is set, a GET of that path that must answer 2xx/3xx.
// An attempt is a small state machine driven by poll(), so the supervisor's
// single thread never blocks on a slow app.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace skyport::drone {

enum class ProbeState { kPending, kReady, kNotReady };

class ReadyProbe {
 public:
  // Starts an attempt (non-blocking connect). It may already be finished,
  // e.g. kNotReady for an unresolvable host or a refused connection.
  static std::unique_ptr<ReadyProbe> Begin(const std::string& host, uint32_t port, std::string health_path);
  ~ReadyProbe();
  ReadyProbe(const ReadyProbe&) = delete;
  ReadyProbe& operator=(const ReadyProbe&) = delete;

  ProbeState state() const { return state_; }
  const std::string& error() const { return error_; }  // why kNotReady
  // While kPending: the fd and the poll events to wait for.
  int fd() const { return fd_; }
  short events() const;
  // Advances after poll() reported `revents` on fd().
  void OnEvents(short revents);

 private:
  enum class Phase { kConnecting, kSending, kReading };
  ReadyProbe() = default;
  void Finish(ProbeState s, std::string error = "");
  void Send();
  void Read();

  int fd_ = -1;
  Phase phase_ = Phase::kConnecting;
  ProbeState state_ = ProbeState::kPending;
  std::string error_;
  std::string request_;  // empty: TCP check only
  size_t sent_ = 0;
  std::string response_;
};

// A whole attempt, blocking for at most `timeout_ms` (for tools and tests).
bool CheckReady(const std::string& host, uint32_t port, const std::string& health_path, int timeout_ms);

// The status code of an HTTP response head ("HTTP/1.1 204 No Content\r\n..."):
// -1 while the first line is incomplete, 0 if it is not HTTP.
int ParseHttpStatus(std::string_view head);

}  // namespace skyport::drone
