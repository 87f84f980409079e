// Ships the router's experiment rows (per user, arm, event and hour) and
// traffic rows (per arm and minute) to the hub's StatsSink about once a
// second, in batches the hub counts once however often they are sent.
//
// Two modes:
// - In memory (no data dir): workers Offer what they drained; rows wait in
//   memory, up to `max_rows` (then the oldest are dropped and counted), and
//   go out in batches of at most `batch_rows` with ids new to this run: a
//   short hub outage loses nothing, a router restart loses what waited.
// - From the journal (--data, router/journal.h): workers hand over sealed
//   segments (OfferSealed); each is sent, in segment order, as batches with
//   ids derived from the segment and removed from the journal once the hub
//   has them all. While the journal is over its size the oldest segments
//   are dropped (counted and logged).
// A batch the hub refuses as invalid would be refused forever: it is
// quarantined on disk with the hub's reason (with a data dir: see
// EventJournal::Quarantine; else dropped), counted and logged, and the
// batches after it go on. Anything else (hub down) is sent again, with the
// same id.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "router/journal.h"
#include "skyport/v1/router.grpc.pb.h"

namespace skyport::router {

struct ShipperOptions {
  size_t max_rows = 1'000'000;  // in memory only
  size_t batch_rows = 5000;
};

class StatsShipper {
 public:
  // `journal` (may be null) selects the mode; it must outlive the shipper.
  StatsShipper(std::shared_ptr<grpc::Channel> hub, std::string token, std::string router_id,
               EventJournal* journal = nullptr, ShipperOptions options = {});
  ~StatsShipper();
  void Start();
  // Tries one last shipment of what is pending (up to `deadline_ms`), then
  // stops. With a journal, whatever is left stays on disk for the next run.
  void Stop(int deadline_ms = 2000);

  // In memory: the rows and traffic of a drain (moved from). Thread-safe;
  // never blocks on the network.
  void Offer(v1::ShipStatsRequest&& rows);
  // From the journal: sealed segments. Thread-safe; never blocks on the network.
  void OfferSealed(std::vector<SealedSegment>&& segments);

  uint64_t shipped_rows() const { return shipped_.load(); }
  uint64_t dropped_rows() const { return dropped_.load(); }
  uint64_t dropped_segments() const { return dropped_segments_.load(); }
  uint64_t failures() const { return failures_.load(); }
  // Batches the hub refused as invalid; of those, kept in the quarantine.
  uint64_t refused_batches() const { return refused_batches_.load(); }
  uint64_t quarantined_batches() const { return quarantined_batches_.load(); }
  uint64_t quarantined_rows() const { return quarantined_rows_.load(); }
  size_t pending_rows() const;
  bool hub_ok() const { return hub_ok_.load(); }

 private:
  void Loop();
  bool HasWork() const;
  // Sends the next batch; false if the hub did not take it.
  bool ShipOnce(int64_t timeout_ms);
  // Fills parts_ with the next segment's batches; false when there is none.
  bool NextParts();
  // Drops the oldest sealed segments while the journal is over its size.
  void DropOverflowLocked();
  // A batch the hub refused as invalid: quarantined or dropped.
  void Refused(const v1::ShipStatsRequest& req, const std::string& reason);

  std::unique_ptr<v1::StatsSink::Stub> stub_;
  std::string token_;
  std::string router_id_;
  EventJournal* journal_;
  ShipperOptions o_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                              // guarded by mu_
  std::deque<v1::UserEventRow> rows_;              // guarded by mu_ (in memory)
  std::deque<v1::TrafficRow> traffic_;             // guarded by mu_ (in memory)
  std::map<uint64_t, SealedSegment> sealed_;       // guarded by mu_ (journal)
  uint64_t sealed_rows_ = 0;                       // guarded by mu_
  uint64_t in_flight_segment_ = 0;                 // guarded by mu_: being sent, not to be dropped
  uint64_t last_drop_log_ms_ = 0;                  // guarded by mu_
  int64_t last_refusal_log_ms_ = 0;                // guarded by mu_

  // Owned by the sending thread: the batches of the segment being sent.
  std::vector<v1::ShipStatsRequest> parts_;
  size_t next_part_ = 0;
  SealedSegment current_;
  uint64_t memory_segment_ = 0;  // in memory: batch ids of this run
  std::atomic<uint64_t> in_flight_rows_{0};  // in memory: rows in parts_ not yet taken

  std::atomic<uint64_t> shipped_{0}, dropped_{0}, dropped_segments_{0}, failures_{0};
  std::atomic<uint64_t> refused_batches_{0}, quarantined_batches_{0}, quarantined_rows_{0};
  std::atomic<bool> hub_ok_{false};
  std::thread thread_;
};

}  // namespace skyport::router
