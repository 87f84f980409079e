// Answers the router makes itself (errors, event posts), and closing a
// client connection without losing them.
#include "router/worker.h"

#include <sys/socket.h>

#include <cerrno>

#include <fmt/format.h>

namespace skyport::router {

const char* Reason(int status) {
  switch (status) {
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

void Worker::LocalError(Client* c, int status, std::string_view message, bool keep_alive) {
  c_->local_errors[LocalErrorIndex(status)].fetch_add(1, std::memory_order_relaxed);
  if (c->arm) RecordOutcome(c, status);
  LocalResponse(c, status, "text/plain; charset=utf-8", fmt::format("{} {}: {}\n", status, Reason(status), message),
                keep_alive);
}

void Worker::LocalResponse(Client* c, int status, std::string_view content_type, std::string_view body,
                           bool keep_alive, std::string_view extra_headers) {
  // Keep the connection only when the request was read completely (and say
  // so to an HTTP/1.0 client, which otherwise takes the answer as the last).
  bool body_done = c->state == Client::State::kHead ? false : (c->req_scanned && c->req_ready == 0);
  bool keep = keep_alive && body_done && c->keep_alive && !stopping_.load(std::memory_order_relaxed);
  c->out.append(fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}{}\r\n", status,
                            Reason(status), content_type, body.size(), c->cookie.empty() ? "" : "Set-Cookie: " + c->cookie + "\r\n",
                            keep ? (c->minor == 0 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n",
                            extra_headers));
  if (!c->is_head || c->state == Client::State::kHead) c->out.append(body);
  if (c->up) ReleaseUpstream(c, false);
  ResetExchange(c);
  if (keep) {
    // Discard any body the client already sent for this request.
    if (c->req_ready) c->in.Consume(c->req_ready);
    c->req_ready = 0;
    c->state = Client::State::kHead;
    c->head_start_ms = now_ms_;
    Schedule(c);  // write the answer and serve pipelined requests, also when called outside Pump
    return;
  }
  c->state = Client::State::kClosing;
  c->last_ms = now_ms_;
  LingerClose(c);
}

// Closes without losing the answer: write what is pending, shut our side,
// then read and drop what the client still sends until it closes (a close()
// with unread bytes would send a reset, which can destroy the answer in
// flight). Scan ends a linger that takes more than 5 s.
void Worker::LingerClose(Client* c) {
  size_t w;
  FlushClient(c, nullptr, 0, w);
  if (c->dead || !c->out.empty()) return;  // the rest when the socket is writable
  if (!c->wr_shut) {
    ::shutdown(c->fd, SHUT_WR);
    c->wr_shut = true;
  }
  char sink[16384];
  for (int i = 0; i < 64; ++i) {
    ssize_t n = ::recv(c->fd, sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->readable = false;
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  CloseClient(c);
}

}  // namespace skyport::router
