// The response side of an exchange: parse the upstream's head, relay it
// rewritten, stream the body to the client; after a 101, the tunnel.
#include "router/worker.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

#include <fmt/format.h>

#include "router/head_write.h"

namespace skyport::router {

void Worker::OnResponseHead(Client* c, const http1::ResponseHead& h) {
  if (stopping_.load(std::memory_order_relaxed)) c->close_after = true;  // draining: no reuse
  AppendRelayedHead(c->out, c->up->in.data(), h,
                    {c->is_head, c->minor, c->arm->commit, c->inst->label, c->cookie, c->close_after});
}

bool Worker::PumpResponse(Client* c) {
  Upstream* u = c->up;
  if (!u || u->connecting) return false;
  bool progress = false;
  bool eof = false;
  // Read only when the client has taken what we had (back-pressure).
  if (c->out.empty()) {
    if (ReadInto(u, u->in, eof)) {
      progress = true;
      c->resp_started = true;
    }
  }
  while (!c->resp_head_done && !u->in.empty()) {
    http1::ParseError err;
    auto r = http1::ParseResponse(u->in.view(), o_.max_head_bytes, c->is_head, resp_, err);
    if (r == http1::Parse::kIncomplete) {
      if (u->in.space() == 0 && u->in.capacity() < o_.max_head_bytes + 1) u->in.Grow(o_.max_head_bytes + 1);
      break;
    }
    if (r == http1::Parse::kError) {
      UpstreamMisbehaved(c_->invalid_responses, c->inst->label, err.message);
      ReleaseUpstream(c, false);
      LocalError(c, 502, fmt::format("invalid response from {}: {}", c->inst->label, err.message), false);
      return false;
    }
    if (resp_.status >= 100 && resp_.status < 200 && resp_.status != 101) {
      // Interim (100 Continue, 103) as is; HTTP/1.0 clients know none.
      if (c->minor > 0) c->out.append(u->in.data(), resp_.head_len);
      u->in.Consume(resp_.head_len);
      continue;
    }
    c->status = resp_.status;
    if (resp_.status == 101) {
      if (!c->upgrade) {
        ReleaseUpstream(c, false);
        LocalError(c, 502, "upstream switched protocols without an upgrade request", false);
        return false;
      }
      OnResponseHead(c, resp_);
      u->in.Consume(resp_.head_len);
      c->resp_head_done = true;
      c->state = Client::State::kTunnel;
      c_->tunnels.fetch_add(1, std::memory_order_relaxed);
      RecordOutcome(c, 101);
      return true;
    }
    c->early_response = !c->req_scanned || c->req_ready != 0 || c->fwd_off != c->fwd.size();
    c->resp_body = resp_.body;
    c->resp_left = resp_.body == http1::BodyKind::kLength ? resp_.content_length : 0;
    c->resp_chunks.Reset();
    c->resp_ready = 0;
    c->resp_scanned =
        resp_.body == http1::BodyKind::kNone || (resp_.body == http1::BodyKind::kLength && resp_.content_length == 0);
    if (resp_.body == http1::BodyKind::kUntilClose || !resp_.keep_alive) u->reused = false;
    if (resp_.body == http1::BodyKind::kUntilClose || !c->req_scanned) c->close_after = true;
    if (!resp_.keep_alive) c->up_keep = false;
    c->dechunk = resp_.body == http1::BodyKind::kChunked && c->minor == 0;
    if (c->dechunk) {
      c->close_after = true;  // the close is the only end an HTTP/1.0 client can see
      c_->dechunked.fetch_add(1, std::memory_order_relaxed);
    }
    OnResponseHead(c, resp_);
    u->in.Consume(resp_.head_len);
    c->resp_head_done = true;
    progress = true;
  }
  if (!c->resp_head_done) {
    if (eof) {
      UpstreamFailed(c, false, c->resp_started ? "closed mid-head" : "closed without answering");
      return false;
    }
    if (!c->out.empty()) {  // interim responses (100 Continue, 103) go out now
      size_t w;
      if (FlushClient(c, nullptr, 0, w)) progress = true;
    }
    return progress;
  }
  // Scan body bytes.
  if (!c->resp_scanned) {
    size_t avail = u->in.size() - c->resp_ready;
    if (avail > 0) {
      switch (c->resp_body) {
        case http1::BodyKind::kLength: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(avail, c->resp_left));
          c->resp_ready += take;
          c->resp_left -= take;
          if (c->resp_left == 0) c->resp_scanned = true;
          break;
        }
        case http1::BodyKind::kChunked: {
          if (c->dechunk) {
            // The chunks' data moves to the front, the framing between goes.
            size_t payload = 0;
            auto step = c->resp_chunks.Decode(u->in.mutable_data() + c->resp_ready, avail, payload);
            if (step.error) {
              AbortExchange(c);
              return false;
            }
            if (step.consumed > payload) u->in.Erase(c->resp_ready + payload, step.consumed - payload);
            c->resp_ready += payload;
            if (step.done) c->resp_scanned = true;
            break;
          }
          auto step = c->resp_chunks.Feed(std::string_view(u->in.data() + c->resp_ready, avail));
          if (step.error) {
            AbortExchange(c);
            return false;
          }
          c->resp_ready += step.consumed;
          if (step.done) c->resp_scanned = true;
          break;
        }
        case http1::BodyKind::kUntilClose:
          c->resp_ready += avail;
          break;
        case http1::BodyKind::kNone:
          break;
      }
    }
    if (eof) {
      if (c->resp_body == http1::BodyKind::kUntilClose) {
        c->resp_scanned = true;
      } else {
        AbortExchange(c);  // truncated body: the client must see the connection end
        return false;
      }
    }
  }
  size_t written = 0;
  if (FlushClient(c, u->in.data(), c->resp_ready, written)) progress = true;
  if (c->dead || c->state != Client::State::kExchange) return false;
  if (written) {
    u->in.Consume(written);
    c->resp_ready -= written;
  }
  if (c->resp_scanned && c->resp_ready == 0 && c->out.empty()) {
    FinishExchange(c);
    return true;
  }
  return progress;
}

bool Worker::PumpTunnel(Client* c) {
  Upstream* u = c->up;
  if (!u) {
    CloseClient(c);
    return false;
  }
  bool progress = false;
  bool ignored = false;
  // client -> upstream (whatever followed the request head, then frames)
  if (ReadInto(c, c->in, ignored)) progress = true;
  if (!c->in.empty() && u->writable) {
    ssize_t n = ::send(u->fd, c->in.data(), c->in.size(), MSG_NOSIGNAL);
    if (n > 0) {
      if (static_cast<size_t>(n) < c->in.size()) u->writable = false;
      c->in.Consume(static_cast<size_t>(n));
      u->last_ms = now_ms_;
      progress = true;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      u->writable = false;
    } else if (n < 0 && errno != EINTR) {
      u->eof = true;  // the upstream is gone: nothing more can pass either way
      c->in.Consume(c->in.size());
    }
  }
  // upstream -> client
  if (c->out.empty() && ReadInto(u, u->in, ignored)) progress = true;
  size_t written = 0;
  if (FlushClient(c, u->in.data(), u->in.size(), written)) progress = true;
  if (c->dead) return false;
  u->in.Consume(written);
  // End of stream is sticky (Conn::eof): close once the other way is flushed.
  if ((c->eof && c->in.empty()) || (u->eof && u->in.empty() && c->out.empty())) {
    AbortExchange(c);
    return false;
  }
  return progress;
}

}  // namespace skyport::router
