#include "router/stats_shipper.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "router/ship_batch.h"
#include "rpc/call.h"

namespace skyport::router {

struct StatsShipper::Lane {
  std::string hub;
  std::unique_ptr<v1::StatsSink::Stub> stub;
  // Guarded by mu_.
  std::deque<v1::UserEventRow> rows;   // in memory: waiting for this hub
  std::deque<v1::TrafficRow> traffic;  // in memory
  uint64_t done = 0;       // journal: this hub has every sealed segment up to this one (or it was dropped)
  uint64_t in_flight = 0;  // journal: the segment being sent to it (not to be dropped)
  int64_t last_drop_log_ms = 0;
  // The lane's thread only (and Stop, after it).
  std::vector<v1::ShipStatsRequest> parts;
  size_t next_part = 0;
  SealedSegment current;
  uint64_t memory_segment = 0;  // in memory: batch ids of this run
  std::thread thread;
  std::atomic<uint64_t> in_flight_rows{0};  // in memory: rows in parts not yet taken
  std::atomic<uint64_t> shipped{0}, dropped{0}, failures{0};
  std::atomic<bool> ok{false};
};

StatsShipper::StatsShipper(std::vector<ShipTarget> hubs, std::string token, std::string router_id,
                           EventJournal* journal, ShipperOptions options)
    : token_(std::move(token)), router_id_(std::move(router_id)), journal_(journal), o_(options) {
  for (ShipTarget& t : hubs) {
    auto lane = std::make_unique<Lane>();
    lane->hub = std::move(t.address);
    lane->stub = v1::StatsSink::NewStub(t.channel);
    lanes_.push_back(std::move(lane));
  }
}

StatsShipper::~StatsShipper() { Stop(0); }

void StatsShipper::Start() {
  for (auto& lane : lanes_) lane->thread = std::thread([this, l = lane.get()] { Loop(*l); });
}

void StatsShipper::Stop(int deadline_ms) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& lane : lanes_)
    if (lane->thread.joinable()) lane->thread.join();
  if (deadline_ms > 0) {
    const int64_t end = MonoNowMs() + deadline_ms;
    for (auto& lane : lanes_)
      while (MonoNowMs() < end && HasWork(*lane))
        if (!ShipOnce(*lane, std::max<int64_t>(1, end - MonoNowMs()))) break;
  }
}

void StatsShipper::Offer(v1::ShipStatsRequest&& batch) {
  if (RowCount(batch) == 0) return;
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < lanes_.size(); ++i) {
    Lane& lane = *lanes_[i];
    const bool last = i + 1 == lanes_.size();  // the last lane takes the rows, the others a copy
    for (auto& r : *batch.mutable_rows()) lane.rows.push_back(last ? std::move(r) : r);
    for (auto& t : *batch.mutable_traffic()) lane.traffic.push_back(last ? std::move(t) : t);
    uint64_t dropped = 0;
    while (lane.rows.size() + lane.traffic.size() > o_.max_rows) {
      if (!lane.rows.empty())
        lane.rows.pop_front();
      else
        lane.traffic.pop_front();
      ++dropped;
    }
    if (dropped == 0) continue;
    lane.dropped += dropped;
    const int64_t now = MonoNowMs();
    if (now - lane.last_drop_log_ms >= 10'000) {
      lane.last_drop_log_ms = now;
      log::Warn("stats rows waiting for the hub over their bound (hub away?): dropping the oldest",
                {{"hub", lane.hub}, {"dropped_rows_total", lane.dropped.load()}, {"max_rows", o_.max_rows}});
    }
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

bool StatsShipper::InFlightLocked(uint64_t segment) const {
  for (const auto& lane : lanes_)
    if (lane->in_flight == segment) return true;
  return false;
}

void StatsShipper::DropOverflowLocked() {
  if (!journal_) return;
  while (journal_->bytes() > journal_->hard_max_bytes()) {
    auto it = sealed_.begin();
    while (it != sealed_.end() && InFlightLocked(it->first)) ++it;
    if (it == sealed_.end()) return;
    const SealedSegment& s = it->second;
    journal_->Remove(s);
    sealed_rows_ -= s.rows;
    std::string behind;  // the hubs that never got it
    for (auto& lane : lanes_) {
      if (lane->done >= s.segment) continue;
      lane->dropped += s.rows;
      behind += (behind.empty() ? "" : ",") + lane->hub;
    }
    ++dropped_segments_;
    const int64_t now = MonoNowMs();
    if (dropped_segments_ == 1 || now - last_drop_log_ms_ >= 10'000) {
      last_drop_log_ms_ = now;
      log::Warn("event journal over its size (hub away?): dropping the oldest sealed batches",
                {{"segment", fmt::format("{:016x}", s.segment)}, {"rows", s.rows}, {"hubs", behind},
                 {"dropped_batches_total", dropped_segments_.load()}, {"dropped_rows_total", dropped_rows()},
                 {"max_bytes", journal_->max_bytes()}});
    }
    sealed_.erase(it);
  }
}

size_t StatsShipper::LanePendingLocked(const Lane& lane) const {
  size_t n = lane.rows.size() + lane.traffic.size() + lane.in_flight_rows.load();
  for (auto it = sealed_.upper_bound(lane.done); it != sealed_.end(); ++it) n += it->second.rows;
  return n;
}

size_t StatsShipper::pending_rows() const {
  std::lock_guard lock(mu_);
  size_t most = 0;
  for (const auto& lane : lanes_) most = std::max(most, LanePendingLocked(*lane));
  return most;
}

uint64_t StatsShipper::shipped_rows() const {
  uint64_t n = 0;
  for (const auto& lane : lanes_) n += lane->shipped.load();
  return n;
}

uint64_t StatsShipper::dropped_rows() const {
  uint64_t n = 0;
  for (const auto& lane : lanes_) n += lane->dropped.load();
  return n;
}

uint64_t StatsShipper::failures() const {
  uint64_t n = 0;
  for (const auto& lane : lanes_) n += lane->failures.load();
  return n;
}

bool StatsShipper::hub_ok() const {
  for (const auto& lane : lanes_)
    if (!lane->ok.load()) return false;
  return true;
}

std::vector<LaneStats> StatsShipper::lanes() const {
  std::vector<LaneStats> out;
  std::lock_guard lock(mu_);
  for (const auto& lane : lanes_)
    out.push_back(LaneStats{lane->hub, lane->shipped.load(), lane->dropped.load(), lane->failures.load(),
                            LanePendingLocked(*lane), lane->ok.load()});
  return out;
}

bool StatsShipper::HasWork(Lane& lane) const {
  if (lane.next_part < lane.parts.size()) return true;
  std::lock_guard lock(mu_);
  return !lane.rows.empty() || !lane.traffic.empty() || sealed_.upper_bound(lane.done) != sealed_.end();
}

bool StatsShipper::NextParts(Lane& lane) {
  lane.parts.clear();
  lane.next_part = 0;
  if (journal_) {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        auto it = sealed_.upper_bound(lane.done);
        if (it == sealed_.end()) return false;
        lane.current = it->second;
        lane.in_flight = it->first;
      }
      auto batch = journal_->Load(lane.current);
      if (batch.ok()) {
        lane.parts = SplitBatch(*batch, lane.current.segment, o_.batch_rows);
        return true;
      }
      log::Warn("cannot read a sealed batch; dropping it", {{"error", batch.status().message()}});
      std::lock_guard lock(mu_);
      lane.in_flight = 0;
      auto it = sealed_.find(lane.current.segment);
      if (it == sealed_.end()) continue;  // another lane dropped it
      journal_->Remove(lane.current);
      sealed_rows_ -= lane.current.rows;
      for (auto& l : lanes_)
        if (l->done < lane.current.segment) l->dropped += lane.current.rows;
      ++dropped_segments_;
      sealed_.erase(it);
    }
  }
  v1::ShipStatsRequest req;
  {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (; n < o_.batch_rows && !lane.rows.empty(); ++n) {
      *req.add_rows() = std::move(lane.rows.front());
      lane.rows.pop_front();
    }
    for (; n < o_.batch_rows && !lane.traffic.empty(); ++n) {
      *req.add_traffic() = std::move(lane.traffic.front());
      lane.traffic.pop_front();
    }
    if (n == 0) return false;
    lane.in_flight_rows = n;
  }
  req.set_router(router_id_);
  req.set_batch_id(BatchId(++lane.memory_segment, 0));
  lane.parts.push_back(std::move(req));
  return true;
}

void StatsShipper::SegmentDone(Lane& lane, uint64_t segment) {
  std::vector<SealedSegment> gone;
  {
    std::lock_guard lock(mu_);
    lane.done = std::max(lane.done, segment);
    lane.in_flight = 0;
    uint64_t all = lane.done;  // every hub has every segment up to here
    for (const auto& l : lanes_) all = std::min(all, l->done);
    while (!sealed_.empty() && sealed_.begin()->first <= all) {
      sealed_rows_ -= sealed_.begin()->second.rows;
      gone.push_back(std::move(sealed_.begin()->second));
      sealed_.erase(sealed_.begin());
    }
  }
  for (const SealedSegment& s : gone) journal_->Remove(s);
}

bool StatsShipper::ShipOnce(Lane& lane, int64_t timeout_ms) {
  if (lane.next_part >= lane.parts.size() && !NextParts(lane)) return true;
  const v1::ShipStatsRequest& req = lane.parts[lane.next_part];
  auto resp = rpc::UnaryCall<v1::ShipStatsResponse>(*lane.stub, &v1::StatsSink::Stub::Ship, req, token_, timeout_ms);
  const uint64_t rows = RowCount(req);
  if (!resp.ok() && resp.status().code() == Code::kInvalidArgument) {
    Refused(lane, req, resp.status().message());
  } else if (!resp.ok()) {
    ++lane.failures;
    if (lane.ok.exchange(false) || lane.failures == 1)
      log::Warn("cannot ship stats to the hub; keeping them",
                {{"hub", lane.hub}, {"error", resp.status().message()}, {"pending_rows", pending_rows()}});
    return false;
  } else {
    if (!lane.ok.exchange(true)) log::Info("shipping stats to the hub", {{"hub", lane.hub}, {"router", router_id_}});
    lane.shipped += rows;  // a duplicate was shipped before: done either way
  }
  ++lane.next_part;
  if (journal_ == nullptr) {
    lane.in_flight_rows = 0;
  } else if (lane.next_part == lane.parts.size()) {
    SegmentDone(lane, lane.current.segment);  // this hub has every part
  }
  return resp.ok();
}

// A hub refuses a batch as invalid for good: sending it again would block
// every batch after it. It is quarantined on disk for an operator (with a
// data dir, within its budget), else dropped; counted and logged either way
// (with the hub's reason).
void StatsShipper::Refused(Lane& lane, const v1::ShipStatsRequest& req, const std::string& reason) {
  const uint64_t rows = RowCount(req);
  ++refused_batches_;
  Result<std::string> kept = Status::FailedPrecondition("no data dir (--data)");
  if (journal_) kept = journal_->Quarantine(req, reason);
  if (kept.ok()) {
    ++quarantined_batches_;
    quarantined_rows_ += rows;
  } else {
    lane.dropped += rows;
  }
  const int64_t now = MonoNowMs();
  std::lock_guard lock(mu_);
  if (refused_batches_ > 1 && now - last_refusal_log_ms_ < 10'000) return;
  last_refusal_log_ms_ = now;
  if (kept.ok())
    log::Error("the hub refused a stats batch as invalid; quarantined it",
               {{"hub", lane.hub}, {"batch_id", req.batch_id()}, {"rows", rows}, {"reason", reason},
                {"file", *kept}, {"quarantined_total", quarantined_batches_.load()}});
  else
    log::Error("the hub refused a stats batch as invalid; dropped it",
               {{"hub", lane.hub}, {"batch_id", req.batch_id()}, {"rows", rows}, {"reason", reason},
                {"not_quarantined", kept.status().message()}, {"refused_total", refused_batches_.load()}});
}

void StatsShipper::Loop(Lane& lane) {
  int64_t wait_ms = 1000;
  int failures = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_; })) return;
    }
    bool ok = true;
    while (ok && HasWork(lane)) ok = ShipOnce(lane, 3000);
    // Try again soon after a failure, so that shipping resumes within a
    // second of the hub's return (the channel reconnects as fast; the calls
    // fail fast, so that a stop is never held up by an absent hub).
    failures = ok ? 0 : failures + 1;
    wait_ms = ok ? 1000 : BackoffDelayMs(kReconnectBackoff, failures - 1, 0.5);
  }
}

}  // namespace skyport::router
