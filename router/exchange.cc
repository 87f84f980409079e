#include "router/worker.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <unordered_set>

#include <fmt/format.h>

#include "core/log.h"
#include "core/token.h"
#include "router/ship_batch.h"
#include "contract/split.h"
#include "router/uri.h"

namespace skyport::router {
namespace {

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

bool Idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

// A request id the router passes on: printable, short.
bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char ch : id)
    if (ch <= 0x20 || ch >= 0x7f) return false;
  return true;
}

// Appends the field lines of a head that are not hop-by-hop, as they were
// sent, in as few appends as runs allow. `from` is where the first field starts.
void AppendEndToEnd(std::string& out, const char* base, size_t from, const http1::HeaderField* fields, int count) {
  size_t run_begin = from, run_end = from;
  for (int i = 0; i < count; ++i) {
    if (fields[i].hop) {
      out.append(base + run_begin, run_end - run_begin);
      run_begin = run_end = fields[i].line_end;
    } else {
      run_end = fields[i].line_end;
    }
  }
  out.append(base + run_begin, run_end - run_begin);
}

void AppendHex(std::string& out, uint64_t v) {
  static const char* kHex = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = kHex[v & 15];
  out.append(buf, 16);
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

  const RouteTable* table = c->table.get();
  if (r.method == "CONNECT") {
    c->in.Consume(r.head_len);
    c->state = Client::State::kExchange;
    LocalError(c, 501, "CONNECT is not supported: this is a reverse proxy", false);
    return !c->dead;
  }
  const AppRoute* app = table ? table->Match(r.host, r.path) : nullptr;
  if (!app) {
    c->in.Consume(r.head_len);
    c->state = Client::State::kExchange;  // LocalError needs to know the body situation
    if (!table)
      LocalError(c, 503, "the router has no route table yet (registry not reached)", true);
    else
      LocalError(c, 404, fmt::format("no app is routed for host \"{}\"", r.host), true);
    return !c->dead;
  }
  c->app = app;

  // The user: a cookie that verifies (router/user_cookie.h) keeps its id, and
  // its arm when it is of this split (else the known user is dealt again);
  // anything else — none, forged, tampered, unsigned — is a new visitor with
  // a fresh id, so no client chooses its id or its arm.
  std::string_view split_id = app->split_id.empty() ? std::string_view("default") : std::string_view(app->split_id);
  std::string_view cookie = http1::FindCookie(r, o_.cookie_name);
  std::string_view user_id;
  bool reissue = false;  // valid, but re-signed: legacy (migration window) or the previous secret
  char fresh[32];
  if (!cookie.empty()) {
    CookieCheck check = CheckUserCookie(cookie, *cookie_key_, cookie_prev_.get(),
                                        wall_ms_ < o_.legacy_cookies_until_ms);
    if (CookieAccepted(check.verdict)) {
      user_id = check.user_id;
      reissue = check.verdict != CookieVerdict::kSigned;
      if (check.verdict == CookieVerdict::kLegacy) c_->cookies_migrated.fetch_add(1, std::memory_order_relaxed);
      if (check.verdict == CookieVerdict::kSignedPrevious) c_->cookies_rotated.fetch_add(1, std::memory_order_relaxed);
      if (check.split_id != split_id) c->new_user = true;
    } else {
      RejectedCookie(check.verdict);
    }
  }
  // The id of a known user (whatever the split): events posted with the cookie count for them.
  const std::string_view cookie_user = user_id;
  if (user_id.empty()) {
    static const char* kHex = "0123456789abcdef";
    uint64_t a = rng_.Next(), b = rng_.Next();
    for (int i = 0; i < 16; ++i) {
      fresh[i] = kHex[(a >> (i * 4)) & 15];
      fresh[16 + i] = kHex[(b >> (i * 4)) & 15];
    }
    user_id = std::string_view(fresh, 32);
    c->new_user = true;
  }
  // New ids are budgeted per client address (--new-users-address-*): a flood
  // of cookie-less page views must not fill the hub's stats store with
  // exposures of forged users. Beyond it the page is still served (an arm is
  // dealt as usual) but no id is minted and no exposure is recorded; the
  // client gets a cookie on a later visit.
  bool record_exposure = true;
  if (c->new_user && shipper_ && r.path != o_.events_path) {  // without a hub nothing is recorded
    if (EventRateLimiter* limiter = o_.events_limiter.get()) {
      const std::string_view address = ClientAddress(c->peer, r.x_forwarded_for, limiter->trust_forwarded_for());
      if (!limiter->TakeNewUser(address, now_ms_)) {
        record_exposure = false;
        c->new_user = false;
        if (now_ms_ - last_new_user_warn_ms_ >= 10'000) {
          last_new_user_warn_ms_ = now_ms_;
          log::Warn("new users not recorded: rate limit per address",
                    {{"address", AddressKey(address)}, {"exposures_limited_total", limiter->exposures_limited()}});
        }
      }
    }
  }
  if (record_exposure && (c->new_user || reissue)) {
    std::string& k = c->cookie;
    k.append(o_.cookie_name).append("=");
    AppendSignedCookie(k, *cookie_key_, user_id, split_id);
    k.append(cookie_attrs_);
  }

  int arm = -1;
  const Flight* flight = app->flight.get();
  if (app->allow_override && !r.x_skyport_commit.empty()) arm = app->ArmByCommitPrefix(r.x_skyport_commit);
  if (arm < 0) {
    // In a flight only enrolled users are split (and carry its id);
    // everyone else, and everyone once it is past end_by by this router's
    // own clock, gets the control. A pinned commit (above) is outside it.
    if (flight && !flight->Over(wall_ms_) && flight->Enrolls(RequestView(r), user_id))
      c->flight = flight->id;  // unique per start: a rerun of a name starts afresh
    if (flight && c->flight.empty())
      arm = flight->control_arm;
    else if (app->slices.size() > 1)
      arm = app->ArmFor(UserPosition(user_id, split_id));
    else
      arm = app->ArmFor(0);
  }
  if (arm >= 0 && app->arms[static_cast<size_t>(arm)].instances.empty()) {
    // The user's commit has nothing running: serve them from the heaviest arm
    // that can (in a flight: its control if it can), outside any flight.
    arm = app->FallbackArm();
    c->flight = {};
  }
  if (arm >= 0) c->arm = &app->arms[static_cast<size_t>(arm)];
  // Event posts are the router's own to answer, whether or not an instance
  // runs: they count by the user's exposure (c->arm is null when none runs).
  if (r.path == o_.events_path) {
    HandleEvents(c, r, cookie_user);
    return !c->dead;
  }
  if (arm < 0) {
    c->in.Consume(r.head_len);
    c->state = Client::State::kExchange;
    // Deployed (its entries are in the registry) but none is live: crashed,
    // restarting, crash-looping or not settled yet. Unavailable, not unknown.
    LocalError(c, 503,
               fmt::format("app \"{}\" is deployed but has no live instance (crashed, restarting or not ready yet)",
                           app->name),
               true);
    return !c->dead;
  }
  if (shipper_ && record_exposure) {
    bool is_new = false;
    if (!agg_.AddExposure(app->name, c->flight, c->arm->commit, user_id, now_s_, &is_new))
      c_->events_dropped.fetch_add(1, std::memory_order_relaxed);
    if (is_new && journal_) JournalExposure(app->name, c->flight, c->arm->commit, user_id);
  }

  // The forwarded head: request line and end-to-end fields as sent, then ours.
  std::string& f = c->fwd;
  f.clear();
  f.reserve(r.head_len + 256);
  const char* base = c->in.data();
  size_t line_begin = static_cast<size_t>(r.method.data() - base);
  size_t line_end = r.header_count > 0 ? r.headers[0].line_begin : r.head_len - 2;
  if (r.path.data() == path_.data() || r.target[0] != '/') {
    // A normalised path, or an absolute-form target: origin-form with the
    // path routed on, so that the upstream sees what the router matched.
    size_t q = r.target.find('?');
    f.append(r.method).append(" ").append(r.path);
    if (q != std::string_view::npos) f.append(r.target.substr(q));
    f.append(r.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  } else {
    f.append(base + line_begin, line_end - line_begin);
  }
  AppendEndToEnd(f, base, line_end, r.headers, r.header_count);
  // Framing of our own, never the client's bytes (see http1.h).
  if (r.body == http1::BodyKind::kLength) {
    fmt::format_to(std::back_inserter(f), "Content-Length: {}\r\n", r.content_length);
  } else if (r.body == http1::BodyKind::kChunked) {
    f.append("Transfer-Encoding: chunked\r\n");
  }
  f.append("X-Forwarded-For: ");
  if (r.x_forwarded_for_lines > 1) {
    // RFC 9110 5.3: the lines are one list; forward it joined, in order.
    for (int i = 0; i < r.header_count; ++i) {
      const http1::HeaderField& h = r.headers[i];
      if (h.value.empty() || !http1::EqualsIgnoreCase(h.name, "x-forwarded-for")) continue;
      f.append(h.value);
      f.append(", ");
    }
  } else if (!r.x_forwarded_for.empty()) {
    f.append(r.x_forwarded_for);
    f.append(", ");
  }
  f.append(c->peer);
  f.append("\r\nX-Forwarded-Proto: ");
  f.append(o_.forwarded_proto);
  if (!r.host.empty()) {
    f.append("\r\nX-Forwarded-Host: ");
    f.append(r.host);
  }
  f.append("\r\nX-Request-Id: ");
  if (UsableRequestId(r.x_request_id)) {
    f.append(r.x_request_id);
  } else {
    AppendHex(f, rng_.Next());
    AppendHex(f, rng_.Next());
  }
  f.append("\r\nX-Skyport-User: ");
  f.append(user_id);
  if (!c->flight.empty()) {
    f.append("\r\nX-Skyport-Flight: ");
    f.append(app->flight->name);
  }
  if (r.upgrade) {
    f.append("\r\nConnection: upgrade\r\nUpgrade: ");
    f.append(r.upgrade_proto);
  } else if (r.minor_version == 0) {
    f.append("\r\nConnection: keep-alive");
  }
  f.append("\r\n\r\n");
  c->fwd_off = 0;
  c->in.Consume(r.head_len);
  c->state = Client::State::kExchange;
  c->last_ms = now_ms_;
  if (!PickAndConnect(c)) return !c->dead;
  return true;
}

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

void Worker::OnResponseHead(Client* c, const http1::ResponseHead& h) {
  const char* base = c->up->in.data();
  std::string& o = c->out;
  size_t line_end = h.header_count > 0 ? h.headers[0].line_begin : h.head_len - 2;
  o.append(base, line_end);
  AppendEndToEnd(o, base, line_end, h.headers, h.header_count);
  // Framing of our own (see http1.h). A HEAD or 304 answer keeps the length
  // or coding its GET would have had; 1xx and 204 have none. An HTTP/1.0
  // client knows no chunked coding (RFC 9112 6.1: never send it one): its
  // body goes out decoded (c->dechunk), ended by the close, as nginx does.
  const bool meta_only = c->is_head || h.status == 304;
  if (h.body == http1::BodyKind::kLength || (h.body == http1::BodyKind::kNone && meta_only && h.has_content_length)) {
    fmt::format_to(std::back_inserter(o), "Content-Length: {}\r\n", h.content_length);
  } else if (c->minor > 0 &&
             (h.body == http1::BodyKind::kChunked || (h.body == http1::BodyKind::kNone && meta_only && h.chunked))) {
    o.append("Transfer-Encoding: chunked\r\n");
  }
  std::string_view upgrade_value;
  if (h.status == 101)
    for (int i = 0; i < h.header_count; ++i)
      if (http1::EqualsIgnoreCase(h.headers[i].name, "upgrade")) upgrade_value = h.headers[i].value;
  o.append("X-Skyport-Commit: ");
  o.append(c->arm->commit);
  o.append("\r\nX-Skyport-Instance: ");
  o.append(c->inst->label);
  if (!c->cookie.empty()) {
    o.append("\r\nSet-Cookie: ");
    o.append(c->cookie);
  }
  if (stopping_.load(std::memory_order_relaxed)) c->close_after = true;  // draining: no reuse
  if (h.status == 101) {
    o.append("\r\nConnection: upgrade\r\nUpgrade: ");
    o.append(upgrade_value);
  } else if (c->close_after) {
    o.append("\r\nConnection: close");
  } else if (c->minor == 0) {
    o.append("\r\nConnection: keep-alive");
  }
  o.append("\r\n\r\n");
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

// An event post is answered by the router itself, so its whole body must be
// in `c->in` first (it is small: at most max_events_body).
bool Worker::WaitingForEventsBody(Client* c, const http1::RequestHead& r) {
  if (r.path != o_.events_path || r.body != http1::BodyKind::kLength || r.content_length > o_.max_events_body)
    return false;
  size_t need = r.head_len + static_cast<size_t>(r.content_length);
  if (c->in.size() >= need) return false;
  if (c->in.capacity() < need) c->in.Grow(need);
  return true;
}

void Worker::RejectedCookie(CookieVerdict verdict) {
  const int reason = verdict == CookieVerdict::kBadSignature ? 1 : verdict == CookieVerdict::kUnsigned ? 2 : 0;
  static const char* kReasons[] = {"malformed", "bad_signature", "unsigned"};
  c_->cookies_rejected[reason].fetch_add(1, std::memory_order_relaxed);
  if (now_ms_ - last_cookie_warn_ms_ < 10'000) return;
  last_cookie_warn_ms_ = now_ms_;
  log::Warn("user cookie refused: a new user id was issued (forged, tampered, or unsigned outside "
            "--legacy-cookies-until)",
            {{"reason", kReasons[reason]},
             {"rejected_total", c_->cookies_rejected[0].load(std::memory_order_relaxed) +
                                    c_->cookies_rejected[1].load(std::memory_order_relaxed) +
                                    c_->cookies_rejected[2].load(std::memory_order_relaxed)}});
}

void Worker::HandleEvents(Client* c, const http1::RequestHead& r, std::string_view cookie_user) {
  auto refuse = [&](int status, std::string_view why) {
    c->in.Consume(r.head_len);
    c->state = Client::State::kExchange;
    LocalError(c, status, why, true);
  };
  if (!shipper_) return refuse(503, "event collection is off (start the router with --hub)");
  if (r.method != "POST") return refuse(405, "events are posted (POST)");
  if (r.body == http1::BodyKind::kChunked) return refuse(411, "send events with a Content-Length");
  if (r.body == http1::BodyKind::kNone || r.content_length == 0) return refuse(400, "body: no events");
  if (r.content_length > o_.max_events_body)
    return refuse(413, fmt::format("body: larger than {} bytes", o_.max_events_body));
  // The body is consumed with the head, answered or not.
  c->req_scanned = true;
  c->req_ready = 0;
  auto done = [&](int status, std::string_view content_type, std::string_view text, std::string_view extra = {}) {
    c->in.Consume(r.head_len + static_cast<size_t>(r.content_length));
    c->state = Client::State::kExchange;
    if (status >= 400 && status != 429) c_->local_errors[LocalErrorIndex(status)].fetch_add(1, std::memory_order_relaxed);
    LocalResponse(c, status, content_type, text, true, extra);
  };
  // Server-side posts with the cluster token may name the user of each event.
  // One Authorization field at most: with two, which one a proxy in front
  // checked and which one we would read could differ.
  bool trusted = false;
  int authorizations = 0;
  for (int i = 0; i < r.header_count; ++i)
    if (http1::EqualsIgnoreCase(r.headers[i].name, "authorization")) {
      ++authorizations;
      std::string_view v = r.headers[i].value;
      trusted = !o_.token.empty() && v.size() > 7 && http1::EqualsIgnoreCase(v.substr(0, 7), "Bearer ") &&
                ConstantTimeEquals(v.substr(7), o_.token);
    }
  if (authorizations > 1)
    return done(400, "text/plain; charset=utf-8", "400 Bad Request: more than one Authorization field\n");
  std::string_view body(c->in.data() + r.head_len, static_cast<size_t>(r.content_length));
  EventLimits limits;
  limits.max_body_bytes = o_.max_events_body;
  limits.max_value = o_.events_max_value;
  EventsStatus st = ParseEvents(body, limits, trusted, now_s_, parsed_);
  if (st.ok() && parsed_.capped > 0) c_->events_values_capped.fetch_add(parsed_.capped, std::memory_order_relaxed);
  if (!st.ok())
    return done(st.http_status, "text/plain; charset=utf-8",
                fmt::format("{} {}: {}\n", st.http_status, Reason(st.http_status), st.message));
  // Rate limits (per address, per cookie user; the trusted caller its own), before anything is recorded.
  if (EventRateLimiter* limiter = o_.events_limiter.get()) {
    const std::string_view address = ClientAddress(c->peer, r.x_forwarded_for, limiter->trust_forwarded_for());
    const auto d = limiter->Take(trusted, address, cookie_user,
                                 static_cast<double>(parsed_.events.size()), now_ms_);
    if (d.by != LimitedBy::kNone) {
      const char* by = d.by == LimitedBy::kUser ? "user" : d.by == LimitedBy::kAddress ? "address" : "trusted caller";
      if (now_ms_ - last_limit_warn_ms_ >= 10'000) {
        last_limit_warn_ms_ = now_ms_;
        log::Warn("event posts refused: rate limit", {{"by", by}, {"address", AddressKey(address)},
                                                      {"limited_total", limiter->limited(d.by)}});
      }
      return done(429, "text/plain; charset=utf-8",
                  fmt::format("429 Too Many Requests: events over the {} rate limit; retry after {} s\n", by,
                              d.retry_after_s),
                  fmt::format("Retry-After: {}\r\n", d.retry_after_s));
    }
  }
  // Without a valid cookie (of any split id: a known user) and no user named
  // by a trusted caller, an event cannot be tied to a user: refuse rather
  // than invent one — the whole post, before anything of it is recorded.
  if (cookie_user.empty())
    for (const auto& ev : parsed_.events)
      if (ev.user.empty())
        return done(400, "text/plain; charset=utf-8",
                    "400 Bad Request: no user: send the skyport cookie, or (server-side, with the token) a user field\n");
  // An event counts for the arm its user was assigned to, whoever posts it:
  // the hub joins it to the user's exposures (router.proto, kByExposureArm).
  // The arm of this request is not the user's when a server posts for them,
  // and flights enrol by request headers a server-side post does not carry.
  // With a data dir the post is in the journal before it is answered 202.
  if (journal_) {
    // The rows these events may add to the sealed batch are reserved with the post (router/journal.h).
    uint64_t estimate = 0;
    for (const auto& ev : parsed_.events)
      estimate += EventJournal::RowBytesEstimate(c->app->name.size(), 0, kByExposureArm.size(), ev.name.size(),
                                                 ev.user.empty() ? cookie_user.size() : ev.user.size());
    Status js = journal_->AppendPost({now_s_, trusted, c->app->name, "", kByExposureArm, cookie_user, body}, estimate);
    if (!js.ok()) {
      c_->events_dropped.fetch_add(parsed_.events.size(), std::memory_order_relaxed);
      const bool full = js.code() == Code::kResourceExhausted;
      if (full) c_->events_journal_full.fetch_add(1, std::memory_order_relaxed);
      if (now_ms_ - last_journal_warn_ms_ >= 10'000) {
        last_journal_warn_ms_ = now_ms_;
        log::Warn("event posts refused: cannot journal them", {{"error", js.message()}});
      }
      // Full: room comes back as the shipper empties the journal (about a second per segment).
      return done(503, "text/plain; charset=utf-8",
                  fmt::format("503 Service Unavailable: events not recorded: {}\n", js.message()),
                  full ? "Retry-After: 5\r\n" : "");
    }
  }
  uint64_t accepted = 0, dropped = 0;
  std::vector<uint32_t> dropped_at;  // allocates only when the aggregator is full
  auto scope = agg_.Scope(c->app->name, "", kByExposureArm);
  for (size_t i = 0; i < parsed_.events.size(); ++i) {
    const ParsedEvent& ev = parsed_.events[i];
    if (agg_.Add(scope, ev.name, ev.user.empty() ? cookie_user : ev.user, ev.value, ev.unix_s ? ev.unix_s : now_s_)) {
      ++accepted;
    } else {
      ++dropped;
      if (journal_) dropped_at.push_back(static_cast<uint32_t>(i));
    }
  }
  // Replay must not count what the answer calls dropped. (Should this write
  // fail, a replay after a crash would count them: only when full and failing.)
  if (!dropped_at.empty()) (void)journal_->AppendDrops(dropped_at);
  c_->events_accepted.fetch_add(accepted, std::memory_order_relaxed);
  c_->events_dropped.fetch_add(dropped, std::memory_order_relaxed);
  if (dropped > 0 && now_ms_ - last_agg_warn_ms_ >= 10'000) {
    last_agg_warn_ms_ = now_ms_;
    log::Warn("events dropped: the aggregator is full until the next drain (new users first)",
              {{"dropped", dropped}, {"dropped_total", c_->events_dropped.load(std::memory_order_relaxed)}});
  }
  // "commit": the arm the cookie's user is served now (informative; a post
  // without a cookie has none, nor one while no instance of the app runs).
  if (cookie_user.empty() || !c->arm)
    return done(202, "application/json", fmt::format("{{\"accepted\":{},\"dropped\":{}}}\n", accepted, dropped));
  done(202, "application/json", fmt::format("{{\"accepted\":{},\"dropped\":{},\"commit\":\"{}\"}}\n", accepted,
                                            dropped, c->arm->commit));
}

// A new exposure in the journal, so that a kill -9 before the seal keeps it
// (router/journal.h). Full: the exposure waits for the seal in memory only.
void Worker::JournalExposure(std::string_view app, std::string_view flight, std::string_view arm,
                             std::string_view user) {
  Status s = journal_->AppendExposure({now_s_, app, flight, arm, user});
  if (s.ok()) return;
  c_->exposures_unjournaled.fetch_add(1, std::memory_order_relaxed);
  if (now_ms_ - last_journal_warn_ms_ >= 10'000) {
    last_journal_warn_ms_ = now_ms_;
    log::Warn("exposures not journaled: a kill -9 before the next seal loses them", {{"error", s.message()}});
  }
}

// One finished exchange of an arm: the per-second ring (admin /stats) and,
// with a hub, the durable per-minute counters (requests, status classes,
// latency histogram) of its (app, flight, arm).
void Worker::RecordOutcome(Client* c, int status) {
  const auto latency_us = static_cast<uint64_t>(now_us_ - c->start_us);
  shard_.Record(now_s_, c->arm->stats_id, status, latency_us, c->new_user);
  if (shipper_ && c->app && !traffic_.Record(c->app->name, c->flight, c->arm->commit, now_s_, status, latency_us))
    c_->events_dropped.fetch_add(1, std::memory_order_relaxed);
}

// From Scan (every 100 ms) and when the worker stops. With a journal: seals
// the worker's segment once the journal has moved on (about once a second)
// and hands what that completed to the shipper. Without: hands the rows of
// the last second to the shipper.
void Worker::ShipAggregates(bool last) {
  if (!shipper_) return;
  if (journal_) {
    if (!last) {
      journal_->MaybeAdvance(now_ms_);
      if (!journal_->Behind()) return;
    }
  } else {
    if (!last && now_s_ == last_ship_s_) return;
    last_ship_s_ = now_s_;
  }
  std::vector<UserEventRow> rows;
  std::vector<TrafficRow> traffic;
  agg_.Drain(rows);
  traffic_.Drain(traffic);
  v1::ShipStatsRequest batch;
  AppendRows(std::move(rows), std::move(traffic), batch);
  if (journal_) {
    auto sealed = last ? journal_->Close(std::move(batch)) : journal_->Seal(std::move(batch));
    if (!sealed.empty()) shipper_->OfferSealed(std::move(sealed));
    return;
  }
  shipper_->Offer(std::move(batch));
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
