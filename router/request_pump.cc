// The request side of an exchange: scan the body as it arrives, write the
// forwarded head and the body to the upstream, with back-pressure.
#include "router/worker.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace skyport::router {

bool Worker::PumpRequest(Client* c) {
  Upstream* u = c->up;
  bool progress = false;
  // Scan newly arrived body bytes.
  if (!c->req_scanned) {
    size_t avail = c->in.size() - c->req_ready;
    if (avail > 0) {
      if (c->req_body == http1::BodyKind::kLength) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(avail, c->req_left));
        c->req_ready += take;
        c->req_left -= take;
        if (c->req_left == 0) c->req_scanned = true;
      } else if (c->req_body == http1::BodyKind::kChunked) {
        // Trailer fields are dropped (nginx): an app could read a trailer
        // "X-Skyport-User" or "Content-Length" as if it were a header.
        size_t kept = 0;
        auto step = c->req_chunks.StripTrailers(c->in.mutable_data() + c->req_ready, avail, kept);
        if (step.error) {
          if (!c->resp_started) {
            ReleaseUpstream(c, false);
            LocalError(c, 400, step.message, false);
          } else {
            AbortExchange(c);
          }
          return false;
        }
        if (kept < step.consumed) {
          c->in.Erase(c->req_ready + kept, step.consumed - kept);
          c_->trailer_bytes_dropped.fetch_add(step.consumed - kept, std::memory_order_relaxed);
        }
        c->req_ready += kept;
        if (step.done) c->req_scanned = true;
      }
    }
  }
  if (!u || u->connecting) return false;
  // Write the head and scanned body bytes.
  size_t head_left = c->fwd.size() - c->fwd_off;
  if (u->writable && !c->req_write_dead && (head_left || c->req_ready)) {
    iovec iov[2];
    int cnt = 0;
    if (head_left) iov[cnt++] = {c->fwd.data() + c->fwd_off, head_left};
    if (c->req_ready) iov[cnt++] = {const_cast<char*>(c->in.data()), c->req_ready};
    ssize_t n = SendV(u->fd, iov, cnt);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        u->writable = false;
      } else if (errno != EINTR) {
        // The upstream stopped reading: it may have answered early (413, 401)
        // and closed, or it is gone. Stop sending; the response side decides
        // (forward the answer, or 502 / a replay when there is none).
        c->req_write_dead = true;
        c->close_after = true;
        c->up_keep = false;
        u->readable = true;
        return true;
      }
    } else {
      size_t w = static_cast<size_t>(n);
      if (w < head_left + c->req_ready) u->writable = false;
      size_t h = std::min(w, head_left);
      c->fwd_off += h;
      size_t b = w - h;
      c->in.Consume(b);
      c->req_ready -= b;
      u->last_ms = now_ms_;
      progress = w > 0;
    }
  }
  // More body from the client, if there is room.
  if (!c->req_scanned && !c->req_write_dead && c->req_ready < c->in.capacity()) {
    bool eof = false;
    if (ReadInto(c, c->in, eof)) progress = true;
    if (eof) {
      AbortExchange(c);
      return false;
    }
  }
  return progress;
}

}  // namespace skyport::router
