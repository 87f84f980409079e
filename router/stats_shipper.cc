#include "router/stats_shipper.h"

#include <chrono>

#include <fmt/format.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "router/ship_batch.h"
#include "rpc/call.h"

namespace skyport::router {
StatsShipper::StatsShipper(std::shared_ptr<grpc::Channel> hub, std::string token, std::string router_id,
                           EventJournal* journal, ShipperOptions options)
    : stub_(v1::StatsSink::NewStub(hub)),
      token_(std::move(token)),
      router_id_(std::move(router_id)),
      journal_(journal),
      o_(options) {}

StatsShipper::~StatsShipper() { Stop(0); }

void StatsShipper::Start() { thread_ = std::thread([this] { Loop(); }); }

void StatsShipper::Stop(int deadline_ms) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (deadline_ms > 0) {
    const int64_t end = MonoNowMs() + deadline_ms;
    while (MonoNowMs() < end && HasWork())
      if (!ShipOnce(std::max<int64_t>(1, end - MonoNowMs()))) break;
  }
}

void StatsShipper::Offer(v1::ShipStatsRequest&& batch) {
  if (RowCount(batch) == 0) return;
  std::lock_guard lock(mu_);
  for (auto& r : *batch.mutable_rows()) rows_.push_back(std::move(r));
  for (auto& t : *batch.mutable_traffic()) traffic_.push_back(std::move(t));
  uint64_t dropped = 0;
  while (rows_.size() + traffic_.size() > o_.max_rows) {
    if (!rows_.empty())
      rows_.pop_front();
    else
      traffic_.pop_front();
    ++dropped;
  }
  if (dropped == 0) return;
  dropped_ += dropped;
  const int64_t now = MonoNowMs();
  if (now - static_cast<int64_t>(last_drop_log_ms_) >= 10'000) {
    last_drop_log_ms_ = static_cast<uint64_t>(now);
    log::Warn("stats rows waiting for the hub over their bound (hub away?): dropping the oldest",
              {{"dropped_rows_total", dropped_.load()}, {"max_rows", o_.max_rows}});
  }
}

void StatsShipper::OfferSealed(std::vector<SealedSegment>&& segments) {
  std::lock_guard lock(mu_);
  for (SealedSegment& s : segments) {
    sealed_rows_ += s.rows;
    const uint64_t id = s.segment;
    sealed_.emplace(id, std::move(s));
  }
  DropOverflowLocked();
}

void StatsShipper::DropOverflowLocked() {
  if (!journal_) return;
  while (journal_->bytes() > journal_->hard_max_bytes()) {
    auto it = sealed_.begin();
    if (it != sealed_.end() && it->first == in_flight_segment_) ++it;
    if (it == sealed_.end()) return;
    const SealedSegment& s = it->second;
    journal_->Remove(s);
    sealed_rows_ -= s.rows;
    dropped_ += s.rows;
    ++dropped_segments_;
    const int64_t now = MonoNowMs();
    if (dropped_segments_ == 1 || now - static_cast<int64_t>(last_drop_log_ms_) >= 10'000) {
      last_drop_log_ms_ = static_cast<uint64_t>(now);
      log::Warn("event journal over its size (hub away?): dropping the oldest sealed batches",
                {{"segment", fmt::format("{:016x}", s.segment)}, {"rows", s.rows},
                 {"dropped_batches_total", dropped_segments_.load()}, {"dropped_rows_total", dropped_.load()},
                 {"max_bytes", journal_->max_bytes()}});
    }
    sealed_.erase(it);
  }
}

size_t StatsShipper::pending_rows() const {
  std::lock_guard lock(mu_);
  return rows_.size() + traffic_.size() + sealed_rows_ + in_flight_rows_.load();
}

bool StatsShipper::HasWork() const {
  if (next_part_ < parts_.size()) return true;
  std::lock_guard lock(mu_);
  return !rows_.empty() || !traffic_.empty() || !sealed_.empty();
}

bool StatsShipper::NextParts() {
  parts_.clear();
  next_part_ = 0;
  if (journal_) {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (sealed_.empty()) return false;
        current_ = sealed_.begin()->second;
        in_flight_segment_ = current_.segment;
      }
      auto batch = journal_->Load(current_);
      if (batch.ok()) {
        parts_ = SplitBatch(*batch, current_.segment, o_.batch_rows);
        return true;
      }
      log::Warn("cannot read a sealed batch; dropping it", {{"error", batch.status().message()}});
      std::lock_guard lock(mu_);
      journal_->Remove(current_);
      sealed_rows_ -= current_.rows;
      dropped_ += current_.rows;
      ++dropped_segments_;
      sealed_.erase(current_.segment);
      in_flight_segment_ = 0;
    }
  }
  v1::ShipStatsRequest req;
  {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (; n < o_.batch_rows && !rows_.empty(); ++n) {
      *req.add_rows() = std::move(rows_.front());
      rows_.pop_front();
    }
    for (; n < o_.batch_rows && !traffic_.empty(); ++n) {
      *req.add_traffic() = std::move(traffic_.front());
      traffic_.pop_front();
    }
    if (n == 0) return false;
    in_flight_rows_ = n;
  }
  req.set_router(router_id_);
  req.set_batch_id(BatchId(++memory_segment_, 0));
  parts_.push_back(std::move(req));
  return true;
}

bool StatsShipper::ShipOnce(int64_t timeout_ms) {
  if (next_part_ >= parts_.size() && !NextParts()) return true;
  const v1::ShipStatsRequest& req = parts_[next_part_];
  auto resp = rpc::UnaryCall<v1::ShipStatsResponse>(*stub_, &v1::StatsSink::Stub::Ship, req, token_, timeout_ms);
  const uint64_t rows = RowCount(req);
  if (!resp.ok() && resp.status().code() == Code::kInvalidArgument) {
    Refused(req, resp.status().message());
  } else if (!resp.ok()) {
    ++failures_;
    if (hub_ok_.exchange(false) || failures_ == 1)
      log::Warn("cannot ship stats to the hub; keeping them", {{"error", resp.status().message()},
                                                                {"pending_rows", pending_rows()}});
    return false;
  } else {
    if (!hub_ok_.exchange(true)) log::Info("shipping stats to the hub", {{"router", router_id_}});
    shipped_ += rows;  // a duplicate was shipped before: done either way
  }
  ++next_part_;
  if (journal_ == nullptr) {
    in_flight_rows_ = 0;
  } else if (next_part_ == parts_.size()) {
    journal_->Remove(current_);  // the hub has every part: the segment is done
    std::lock_guard lock(mu_);
    sealed_rows_ -= current_.rows;
    sealed_.erase(current_.segment);
    in_flight_segment_ = 0;
  }
  return resp.ok();
}

// The hub refuses a batch as invalid for good: sending it again would
// block every batch after it. It is quarantined on disk for an operator
// (with a data dir, within its budget), else dropped; counted and logged
// either way (with the hub's reason).
void StatsShipper::Refused(const v1::ShipStatsRequest& req, const std::string& reason) {
  const uint64_t rows = RowCount(req);
  ++refused_batches_;
  Result<std::string> kept = Status::FailedPrecondition("no data dir (--data)");
  if (journal_) kept = journal_->Quarantine(req, reason);
  if (kept.ok()) {
    ++quarantined_batches_;
    quarantined_rows_ += rows;
  } else {
    dropped_ += rows;
  }
  const int64_t now = MonoNowMs();
  std::lock_guard lock(mu_);
  if (refused_batches_ > 1 && now - last_refusal_log_ms_ < 10'000) return;
  last_refusal_log_ms_ = now;
  if (kept.ok())
    log::Error("the hub refused a stats batch as invalid; quarantined it",
               {{"batch_id", req.batch_id()}, {"rows", rows}, {"reason", reason}, {"file", *kept},
                {"quarantined_total", quarantined_batches_.load()}});
  else
    log::Error("the hub refused a stats batch as invalid; dropped it",
               {{"batch_id", req.batch_id()}, {"rows", rows}, {"reason", reason},
                {"not_quarantined", kept.status().message()}, {"refused_total", refused_batches_.load()}});
}

void StatsShipper::Loop() {
  int64_t wait_ms = 1000;
  int failures = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_; })) return;
    }
    bool ok = true;
    while (ok && HasWork()) ok = ShipOnce(3000);
    // Try again soon after a failure, so that shipping resumes within a
    // second of the hub's return (the channel reconnects as fast; the calls
    // fail fast, so that a stop is never held up by an absent hub).
    failures = ok ? 0 : failures + 1;
    wait_ms = ok ? 1000 : BackoffDelayMs(kReconnectBackoff, failures - 1, 0.5);
  }
}

}  // namespace skyport::router
