// One exchange from the client's side: read a request head, start the
// exchange (route, user, arm, forwarded head), finish or abort it.
#include "router/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "router/arm_choice.h"
#include "router/head_write.h"
#include "router/uri.h"

namespace skyport::router {

namespace {

bool Idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

}  // namespace

// ---------------------------------------------------------------- the state machine

void Worker::Pump(Client* c) {
  for (int guard = 0; !c->dead; ++guard) {
    if (guard == 64) {
      // Fairness: let other connections run. Nothing may be left waiting for
      // an edge that already came, so this one goes on the ready queue.
      Schedule(c);
      return;
    }
    bool progress = false;
    switch (c->state) {
      case Client::State::kHead: {
        if (!c->out.empty()) {
          size_t w;
          FlushClient(c, nullptr, 0, w);
          if (c->dead) return;
          // Answers not yet taken by the client: read no further requests
          // (back-pressure on pipelining clients that do not read).
          if (!c->out.empty()) return;
        }
        if (!c->in.empty()) {
          http1::ParseError err;
          auto r = http1::ParseRequest(c->in.view(), o_.max_head_bytes, req_, err);
          if (r == http1::Parse::kDone) {
            if (!PrepareRequest(c)) return;
            if (!WaitingForEventsBody(c, req_)) {
              progress = StartExchange(c);
              break;
            }
          } else if (r == http1::Parse::kError) {
            LocalError(c, err.status, err.message, false);
            return;
          }
          if (c->eof) {  // a partial request and the client is gone
            CloseClient(c);
            return;
          }
          if (c->in.size() >= c->in.capacity() && c->in.capacity() < o_.max_head_bytes + 1) {
            c->in.Grow(o_.max_head_bytes + 1);
          }
        } else if (c->eof) {
          CloseClient(c);
          return;
        }
        bool eof = false;
        bool was_empty = c->in.empty();
        progress = ReadInto(c, c->in, eof);
        if (progress && was_empty) c->head_start_ms = now_ms_;
        if (eof) progress = true;  // the next turn parses what is left, or closes
        break;
      }
      case Client::State::kExchange:
        progress = PumpRequest(c);
        if (c->dead || c->state != Client::State::kExchange) {
          progress = !c->dead;
          break;
        }
        progress |= PumpResponse(c);
        if (c->dead || c->state != Client::State::kExchange) progress = !c->dead;
        break;
      case Client::State::kTunnel:
        progress = PumpTunnel(c);
        break;
      case Client::State::kClosing:
        LingerClose(c);
        return;
    }
    if (!progress) return;
  }
}

bool Worker::PrepareRequest(Client* c) {
  http1::RequestHead& r = req_;
  auto norm = uri::NormalizePath(r.path, o_.unescape_slashes, path_);
  if (norm.verdict == uri::PathVerdict::kRefused) {
    c_->paths_refused.fetch_add(1, std::memory_order_relaxed);
    LocalError(c, 400, norm.reason, false);
    return false;
  }
  if (norm.verdict == uri::PathVerdict::kRewritten) {
    c_->paths_rewritten.fetch_add(1, std::memory_order_relaxed);
    r.path = path_;
  }
  if (r.forwarding_fields > 0) c_->forwarding_dropped.fetch_add(r.forwarding_fields, std::memory_order_relaxed);
  if (r.underscore_fields > 0) {
    // nginx's underscores_in_headers off: CGI/WSGI read '_' as '-', so such a
    // name can pose as another field behind the router's back.
    uint64_t dropped = 0;
    for (int i = 0; i < r.header_count; ++i) {
      http1::HeaderField& h = r.headers[i];
      if (!h.underscore || !(h.hop || !o_.allow_underscore_headers)) continue;
      h.hop = true;
      ++dropped;
    }
    c_->underscore_dropped.fetch_add(dropped, std::memory_order_relaxed);
  }
  return true;
}

bool Worker::StartExchange(Client* c) {
  const http1::RequestHead& r = req_;
  c_->requests.fetch_add(1, std::memory_order_relaxed);
  c->head_seen = true;
  c->body_start_ms = now_ms_;
  c->body_start_bytes = c->read_bytes;
  c->start_us = now_us_;
  c->table = table_;
  c->keep_alive = r.keep_alive;
  c->minor = r.minor_version;
  c->up_keep = true;
  c->is_head = r.is_head;
  c->upgrade = r.upgrade;
  c->idempotent = Idempotent(r.method);
  c->req_body = r.body;
  c->req_left = r.body == http1::BodyKind::kLength ? r.content_length : 0;
  c->req_chunks.Reset();
  c->req_ready = 0;
  c->req_scanned = r.body == http1::BodyKind::kNone || (r.body == http1::BodyKind::kLength && r.content_length == 0);
  c->req_had_body = !c->req_scanned;
  c->body_method = r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
  c->early_response = false;
  c->resp_started = c->resp_head_done = c->resp_scanned = false;
  c->req_write_dead = false;
  c->close_after = !r.keep_alive;
  c->resp_ready = 0;
  c->status = 0;
  c->attempts = 0;
  c->table_moves = 0;
  c->retrying = false;
  c->tried = 0;
  c->new_user = false;
  c->cookie.clear();
  c->app = nullptr;
  c->arm = nullptr;
  c->inst = nullptr;
  c->flight = {};

  const CookieKeys keys{cookie_key_.get(), cookie_prev_.get(), wall_ms_ < o_.legacy_cookies_until_ms};
  const RequestDecision d = DecideRequest(c->table.get(), r, o_.cookie_name, keys, wall_ms_, rng_);
  if (d.refusal == Refusal::kConnect || d.refusal == Refusal::kNoTable || d.refusal == Refusal::kNoApp) {
    c->in.Consume(r.head_len);
    c->state = Client::State::kExchange;  // LocalError needs to know the body situation
    const int status = RefusalStatus(d.refusal);
    if (d.refusal == Refusal::kConnect)
      LocalError(c, status, "CONNECT is not supported: this is a reverse proxy", false);
    else if (d.refusal == Refusal::kNoTable)
      LocalError(c, status, "the router has no route table yet (registry not reached)", true);
    else
      LocalError(c, status, fmt::format("no app is routed for host \"{}\"", r.host), true);
    return !c->dead;
  }
  const AppRoute* app = d.app;
  c->app = app;
  CountCookie(d.user);
  c->new_user = d.user.new_user;
  const std::string_view user_id = d.user.user_id();
  const bool record_exposure = TakeNewUserBudget(c, r);
  if (record_exposure && d.user.set_cookie()) {
    std::string& k = c->cookie;
    k.append(o_.cookie_name).append("=");
    AppendSignedCookie(k, *cookie_key_, user_id, d.split_id);
    k.append(cookie_attrs_);
  }
  c->arm = d.arm;
  c->flight = d.flight;
  // Event posts are the router's own to answer, whether or not an instance
  // runs: they count by the user's exposure (c->arm is null when none runs).
  if (r.path == o_.events_path) {
    HandleEvents(c, r, d.user.cookie_user);
    return !c->dead;
  }
  if (d.refusal == Refusal::kNoLiveInstance) {
    c->in.Consume(r.head_len);
    c->state = Client::State::kExchange;
    // Deployed (its entries are in the registry) but none is live: crashed,
    // restarting, crash-looping or not settled yet. Unavailable, not unknown.
    LocalError(c, RefusalStatus(d.refusal),
               fmt::format("app \"{}\" is deployed but has no live instance (crashed, restarting or not ready yet)",
                           app->name),
               true);
    return !c->dead;
  }
  if (record_exposure) RecordExposure(c, user_id);

  // The forwarded head: request line and end-to-end fields as sent, then ours.
  c->fwd.clear();
  c->fwd.reserve(r.head_len + 256);
  const bool in_flight = !c->flight.empty();
  const ForwardedFields fields{c->peer, o_.forwarded_proto, user_id,
                               in_flight ? std::string_view(app->flight->name) : std::string_view(),
                               r.path.data() == path_.data(), in_flight};
  AppendForwardedHead(c->fwd, c->in.data(), r, fields, rng_);
  c->fwd_off = 0;
  c->in.Consume(r.head_len);
  c->state = Client::State::kExchange;
  c->last_ms = now_ms_;
  if (!PickAndConnect(c)) return !c->dead;
  return true;
}

void Worker::FinishExchange(Client* c) {
  RecordOutcome(c, c->status);
  bool req_done = c->req_scanned && c->req_ready == 0 && c->fwd_off == c->fwd.size();
  Upstream* u = c->up;
  bool reuse = req_done && c->up_keep && c->resp_body != http1::BodyKind::kUntilClose && u;
  if (reuse && !u->in.empty()) {
    // Bytes after a complete response: the upstream answered more than it
    // was asked (a body it took for a request). Never handed to anyone.
    reuse = false;
    UpstreamMisbehaved(c_->unpooled_extra, u->label, "bytes after a complete response");
  }
  // Whether the upstream read the request body cannot be seen from here: an
  // upstream that ignores a body (GET to python's http.server, an error
  // path) parses it as the next request and answers it on this connection,
  // to whoever sends the next request (response desync). So the connection
  // is not pooled, unless trusted for POST/PUT/PATCH answered after the
  // whole body went out (nginx keeps such connections; HAProxy too).
  if (reuse && c->req_had_body &&
      !(o_.reuse_after_body && c->body_method && !c->early_response && c->status < 400)) {
    reuse = false;
    c_->unpooled_body.fetch_add(1, std::memory_order_relaxed);
  }
  ReleaseUpstream(c, reuse);
  ResetExchange(c);
  if (c->close_after || !req_done) {
    c->state = Client::State::kClosing;
    c->last_ms = now_ms_;
    LingerClose(c);
    return;
  }
  c->state = Client::State::kHead;
  c->head_start_ms = now_ms_;
}

void Worker::ResetExchange(Client* c) {
  c->cookie.clear();
  c->app = nullptr;
  c->arm = nullptr;
  c->flight = {};
  c->inst = nullptr;
  c->table.reset();
  c->fwd.clear();
  c->fwd_off = 0;
  c->up_keep = true;
}

void Worker::AbortExchange(Client* c) {
  if (c->arm && c->state == Client::State::kExchange && c->resp_head_done)
    RecordOutcome(c, c->status);
  if (c->dechunk && c->resp_head_done && !c->resp_scanned && c->state == Client::State::kExchange) {
    // A decoded body ends with the close: a plain close would make a
    // truncated one look whole to the HTTP/1.0 client. Reset instead.
    linger l{1, 0};
    ::setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ReleaseUpstream(c, false);
  CloseClient(c);
}

}  // namespace skyport::router
