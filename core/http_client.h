// Skyport's one HTTP/1 client, for its own small calls: the CLI's admin GETs
// (AdminGet), the hub's flight pings and the drone's readiness probes. One
// request per connection, no redirects, no TLS, no keep-alive.
//
// Bounds: every caller gives a deadline (the blocking RunHttpExchange enforces
// it; a poll-driven caller enforces its own), and the bytes kept from an
// answer are capped (max_response_bytes; a status line must end within
// kMaxHttpStatusLine bytes).
//
// HttpExchange is a state machine driven by poll(), so one thread can run
// many (the drone's supervisor); RunHttpExchange runs one to its end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace skyport {

inline constexpr size_t kMaxHttpResponse = 16 << 20;
inline constexpr size_t kMaxHttpStatusLine = 1024;

struct HttpCall {
  std::string host;  // DNS name or IP literal, without brackets
  uint32_t port = 80;
  std::string method = "GET";
  std::string target = "/";  // origin form: "/path?query"
  std::string version = "HTTP/1.0";
  std::string host_header;  // the Host field's value
  std::vector<std::pair<std::string, std::string>> headers;  // sent in order after Host
  // Sent with a Content-Length (after the other headers) unless the method is GET.
  std::string body;
};

// The request bytes of `call`.
std::string FormatHttpRequest(const HttpCall& call);

// The Host field for `host` and `port` (RFC 9110 §7.2): an IPv6 literal in
// brackets; the port left out when it is `default_port`.
std::string HostHeader(std::string_view host, uint32_t port, uint32_t default_port = 0);

// When an exchange is done.
enum class HttpUntil {
  kConnected,   // the TCP connection is up: nothing is sent
  kStatusLine,  // the answer's status line arrived (the rest is not read)
  kEnd,         // the server closed the connection after its answer
};

enum class HttpStage { kResolve, kConnect, kSend, kRead };
const char* HttpStageName(HttpStage stage);  // "resolve", "connect", "send", "read"

// Why an exchange did not finish. Callers word it for their readers.
struct HttpFailure {
  enum class Kind {
    kSystem,    // detail: the resolver's or the kernel's words ("Connection refused")
    kTimeout,   // the deadline passed during `stage`
    kTooLarge,  // more than max_response_bytes arrived
    kNotHttp,   // the answer does not start with an HTTP status line
    kClosed,    // closed before the status line (kStatusLine only)
  };
  HttpStage stage = HttpStage::kConnect;
  Kind kind = Kind::kSystem;
  std::string detail;
  // "<stage>: <detail>", "<stage>: timed out after N ms", "read: response larger than N bytes",
  // "read: not an HTTP response", "read: connection closed before a status line".
  std::string Message(int timeout_ms = 0) const;
};

class HttpExchange {
 public:
  enum class State { kPending, kDone, kFailed };

  // Resolves call.host (getaddrinfo, blocking: callers pass literals or
  // names their resolver answers at once) and starts a non-blocking connect
  // to the first address; a refused address moves on to the next. The
  // exchange may be finished already (kFailed: resolve or connect refused).
  static std::unique_ptr<HttpExchange> Begin(const HttpCall& call, HttpUntil until,
                                             size_t max_response_bytes = kMaxHttpResponse);
  ~HttpExchange();
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  State state() const { return state_; }
  HttpStage stage() const { return stage_; }
  const HttpFailure& failure() const { return failure_; }  // when kFailed
  // The bytes received (kDone with kStatusLine: at least the status line).
  const std::string& received() const { return received_; }
  // While kPending: the fd and the poll events to wait for.
  int fd() const { return fd_; }
  short events() const;
  // Advances after poll() reported `revents` on fd().
  void OnEvents(short revents);

 private:
  struct Addresses;
  HttpExchange() = default;
  void ConnectNext();
  void Fail(HttpFailure::Kind kind, std::string detail = "");
  void Finish();
  void Send();
  void Read();

  HttpUntil until_ = HttpUntil::kEnd;
  size_t max_response_ = kMaxHttpResponse;
  std::unique_ptr<Addresses> addrs_;
  int fd_ = -1;
  HttpStage stage_ = HttpStage::kResolve;
  State state_ = State::kPending;
  HttpFailure failure_;
  std::string request_;
  size_t sent_ = 0;
  std::string received_;
};

// Runs an exchange to its end, blocking for at most `timeout_ms` in all.
// The bytes received, or why not (kTimeout names the stage it was in).
struct HttpOutcome {
  std::optional<HttpFailure> failure;
  std::string received;
};
HttpOutcome RunHttpExchange(const HttpCall& call, HttpUntil until, int timeout_ms,
                            size_t max_response_bytes = kMaxHttpResponse);

// The status code of an HTTP response head ("HTTP/1.1 204 No Content\r\n..."):
// -1 while the first line is incomplete, 0 if it is not HTTP (or the line is
// longer than kMaxHttpStatusLine).
int ParseHttpStatus(std::string_view head);

struct HttpResponse {
  int status = 0;
  std::string content_type;  // "" when absent
  std::string body;          // cut to Content-Length when one is given
};
// A whole response read to the connection's end. INVALID_ARGUMENT
// "malformed HTTP response" or "response cut short (N of M body bytes)".
Result<HttpResponse> ParseHttpResponse(std::string_view raw);

}  // namespace skyport
