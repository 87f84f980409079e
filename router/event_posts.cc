// POST /_skyport/events: custom events answered by the router itself.
#include "router/worker.h"

#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"
#include "core/token.h"

namespace skyport::router {

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

}  // namespace skyport::router
