// What the router records of exchanges: outcomes per arm, exposures in the
// journal, refused cookies, and the hand-over of aggregates to the shipper.
#include "router/worker.h"

#include <vector>

#include "core/log.h"
#include "router/ship_batch.h"

namespace skyport::router {

void Worker::CountCookie(const RequestUser& user) {
  if (!user.had_cookie) return;
  if (!CookieAccepted(user.verdict)) return RejectedCookie(user.verdict);
  if (user.verdict == CookieVerdict::kLegacy) c_->cookies_migrated.fetch_add(1, std::memory_order_relaxed);
  if (user.verdict == CookieVerdict::kSignedPrevious) c_->cookies_rotated.fetch_add(1, std::memory_order_relaxed);
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

// New ids are budgeted per client address (--new-users-address-*): a flood
// of cookie-less page views must not fill the hub's stats store with
// exposures of forged users. Beyond it the page is still served (an arm is
// dealt as usual) but no id is minted and no exposure is recorded; the
// client gets a cookie on a later visit.
bool Worker::TakeNewUserBudget(Client* c, const http1::RequestHead& r) {
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
  return record_exposure;
}

// The exposure of the request's user to its arm (deduplicated per user and
// hour by the aggregator); a new one goes to the journal too.
void Worker::RecordExposure(Client* c, std::string_view user_id) {
  if (!shipper_) return;
  bool is_new = false;
  if (!agg_.AddExposure(c->app->name, c->flight, c->arm->commit, user_id, now_s_, &is_new))
    c_->events_dropped.fetch_add(1, std::memory_order_relaxed);
  if (is_new && journal_) JournalExposure(c->app->name, c->flight, c->arm->commit, user_id);
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

}  // namespace skyport::router
