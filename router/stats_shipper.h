// Ships the router's experiment rows (per user, arm, event and hour) to the
// hub's StatsSink about once a second. Workers hand rows over with Offer();
// the shipper thread sends them in batches with a per-run batch id, so a
// retried batch counts once at the hub. While the hub is unreachable rows are
// kept, up to `max_rows` (then the oldest are dropped and counted), and sent
// when it is back: a short outage loses nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "skyport/v1/router.grpc.pb.h"

namespace skyport::router {

class StatsShipper {
 public:
  StatsShipper(std::shared_ptr<grpc::Channel> hub, std::string token, std::string router_id, size_t max_rows = 1'000'000,
               size_t batch_rows = 5000);
  ~StatsShipper();
  void Start();
  // Tries one last shipment of what is pending (up to `deadline_ms`), then stops.
  void Stop(int deadline_ms = 2000);

  // Thread-safe; never blocks on the network.
  void Offer(std::vector<v1::UserEventRow>&& rows);

  uint64_t shipped_rows() const { return shipped_.load(); }
  uint64_t dropped_rows() const { return dropped_.load(); }
  uint64_t failures() const { return failures_.load(); }
  size_t pending_rows() const;
  bool hub_ok() const { return hub_ok_.load(); }

 private:
  void Loop();
  // Sends the oldest pending rows as one batch; false if the hub did not take it.
  bool ShipOnce(int64_t timeout_ms);

  std::unique_ptr<v1::StatsSink::Stub> stub_;
  std::string token_;
  std::string router_id_;
  size_t max_rows_;
  size_t batch_rows_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::UserEventRow> pending_;   // guarded by mu_
  std::vector<v1::UserEventRow> in_flight_;  // owned by the loop thread: the batch being (re)sent
  uint64_t batch_id_ = 0;                  // loop thread: id of in_flight_
  bool stop_ = false;                      // guarded by mu_
  std::atomic<uint64_t> shipped_{0}, dropped_{0}, failures_{0};
  std::atomic<bool> hub_ok_{false};
  std::thread thread_;
};

}  // namespace skyport::router
