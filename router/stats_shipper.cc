#include "router/stats_shipper.h"

#include <chrono>

#include "core/log.h"
#include "rpc/call.h"

namespace skyport::router {

StatsShipper::StatsShipper(std::shared_ptr<grpc::Channel> hub, std::string token, std::string router_id,
                           size_t max_rows, size_t batch_rows)
    : stub_(v1::StatsSink::NewStub(hub)),
      token_(std::move(token)),
      router_id_(std::move(router_id)),
      max_rows_(max_rows),
      batch_rows_(batch_rows) {}

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
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
    while (std::chrono::steady_clock::now() < end && (!in_flight_.empty() || pending_rows() > 0))
      if (!ShipOnce(deadline_ms)) break;
  }
}

void StatsShipper::Offer(std::vector<v1::UserEventRow>&& rows) {
  if (rows.empty()) return;
  std::lock_guard lock(mu_);
  for (auto& r : rows) pending_.push_back(std::move(r));
  while (pending_.size() > max_rows_) {
    pending_.pop_front();
    ++dropped_;
  }
}

size_t StatsShipper::pending_rows() const {
  std::lock_guard lock(mu_);
  return pending_.size() + in_flight_.size();
}

bool StatsShipper::ShipOnce(int64_t timeout_ms) {
  if (in_flight_.empty()) {
    std::lock_guard lock(mu_);
    size_t n = std::min(batch_rows_, pending_.size());
    if (n == 0) return true;
    in_flight_.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.begin() + n));
    pending_.erase(pending_.begin(), pending_.begin() + n);
    ++batch_id_;
  }
  v1::ShipStatsRequest req;
  req.set_router(router_id_);
  req.set_batch_id(batch_id_);
  for (const auto& r : in_flight_) *req.add_rows() = r;
  auto resp = rpc::UnaryCall<v1::ShipStatsResponse>(*stub_, &v1::StatsSink::Stub::Ship, req, token_, timeout_ms);
  if (!resp.ok()) {
    ++failures_;
    if (hub_ok_.exchange(false) || failures_ == 1)
      log::Warn("cannot ship stats to the hub; keeping them", {{"error", resp.status().message()},
                                                                {"pending_rows", pending_rows()}});
    // A batch the hub refuses as invalid would be refused forever: drop it.
    if (resp.status().code() == Code::kInvalidArgument) {
      dropped_ += in_flight_.size();
      in_flight_.clear();
    }
    return false;
  }
  if (!hub_ok_.exchange(true)) log::Info("shipping stats to the hub", {{"router", router_id_}});
  shipped_ += in_flight_.size();  // a duplicate was shipped before: done either way
  in_flight_.clear();
  return true;
}

void StatsShipper::Loop() {
  int backoff_ms = 1000;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stop_; })) return;
    }
    bool ok = true;
    while (ok && (!in_flight_.empty() || pending_rows() > 0)) ok = ShipOnce(3000);
    backoff_ms = ok ? 1000 : std::min(backoff_ms * 2, 8000);
  }
}

}  // namespace skyport::router
