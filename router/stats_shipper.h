// Ships the router's experiment rows (per user, arm, event and hour) and
// traffic rows (per arm and minute) to the hubs' StatsSink about once a
// second, in batches a hub counts once however often they are sent.
//
// Every hub of --hub gets every batch (docs/architecture.md, "Several hubs"):
// each hub has a lane of its own (a thread, its own place in the queue, its
// own failures and metrics), so a hub that is away holds back no other hub,
// and a batch is done only once every hub has acknowledged it.
//
// Two modes:
// - In memory (no data dir): workers Offer what they drained; each lane
//   keeps the rows for its hub, up to `max_rows` (then the oldest are
//   dropped, counted and logged per hub), and sends them in batches of at
//   most `batch_rows` with ids new to this run: a short hub outage loses
//   nothing, a router restart loses what waited.
// - From the journal (--data, router/journal.h): workers hand over sealed
//   segments (OfferSealed); each lane sends them, in segment order, as
//   batches with ids derived from the segment; a segment leaves the journal
//   once every hub has all its batches. A hub that stays away keeps its
//   segments on disk, within the journal's bounds: at max_bytes new posts
//   are refused (503), beyond hard_max_bytes the oldest segments are dropped
//   (counted and logged, naming the hubs that had not taken them).
// A batch a hub refuses as invalid would be refused forever: it is
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
  size_t max_rows = 1'000'000;  // in memory only, per hub
  size_t batch_rows = 5000;
};

// One hub the shipper sends to.
struct ShipTarget {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
};

// One hub's lane, for metrics.
struct LaneStats {
  std::string hub;
  uint64_t shipped_rows = 0;
  uint64_t dropped_rows = 0;  // never sent to this hub: over the bounds
  uint64_t failures = 0;
  uint64_t pending_rows = 0;  // waiting for this hub
  bool up = false;            // the last shipment reached it
};

class StatsShipper {
 public:
  // `hubs`: at least one. `journal` (may be null) selects the mode; it must
  // outlive the shipper.
  StatsShipper(std::vector<ShipTarget> hubs, std::string token, std::string router_id,
               EventJournal* journal = nullptr, ShipperOptions options = {});
  ~StatsShipper();
  void Start();
  // Tries one last shipment of what is pending (up to `deadline_ms` for all
  // hubs), then stops. With a journal, whatever is left stays on disk for
  // the next run.
  void Stop(int deadline_ms = 2000);

  // In memory: the rows and traffic of a drain (moved from). Thread-safe;
  // never blocks on the network.
  void Offer(v1::ShipStatsRequest&& rows);
  // From the journal: sealed segments. Thread-safe; never blocks on the network.
  void OfferSealed(std::vector<SealedSegment>&& segments);

  // Totals over the hubs (with one hub: that hub's).
  uint64_t shipped_rows() const;
  uint64_t dropped_rows() const;
  uint64_t dropped_segments() const { return dropped_segments_.load(); }
  uint64_t failures() const;
  // Batches a hub refused as invalid; of those, kept in the quarantine.
  uint64_t refused_batches() const { return refused_batches_.load(); }
  uint64_t quarantined_batches() const { return quarantined_batches_.load(); }
  uint64_t quarantined_rows() const { return quarantined_rows_.load(); }
  // Rows some hub has not taken yet.
  size_t pending_rows() const;
  // True while every hub took its last shipment.
  bool hub_ok() const;
  std::vector<LaneStats> lanes() const;

 private:
  struct Lane;
  void Loop(Lane& lane);
  bool HasWork(Lane& lane) const;
  // Sends the lane's next batch; false if its hub did not take it.
  bool ShipOnce(Lane& lane, int64_t timeout_ms);
  // Fills the lane's parts with its next batches; false when there is none.
  bool NextParts(Lane& lane);
  // The lane finished `segment`: removes the segments every hub has.
  void SegmentDone(Lane& lane, uint64_t segment);
  // Drops the oldest sealed segments while the journal is over its size.
  void DropOverflowLocked();
  bool InFlightLocked(uint64_t segment) const;
  size_t LanePendingLocked(const Lane& lane) const;
  // A batch a hub refused as invalid: quarantined or dropped.
  void Refused(Lane& lane, const v1::ShipStatsRequest& req, const std::string& reason);

  std::string token_;
  std::string router_id_;
  EventJournal* journal_;
  ShipperOptions o_;
  std::vector<std::unique_ptr<Lane>> lanes_;  // fixed after construction

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                              // guarded by mu_
  std::map<uint64_t, SealedSegment> sealed_;       // guarded by mu_ (journal): not yet taken by every hub
  uint64_t sealed_rows_ = 0;                       // guarded by mu_
  int64_t last_drop_log_ms_ = 0;                   // guarded by mu_
  int64_t last_refusal_log_ms_ = 0;                // guarded by mu_

  std::atomic<uint64_t> dropped_segments_{0};
  std::atomic<uint64_t> refused_batches_{0}, quarantined_batches_{0}, quarantined_rows_{0};
};

}  // namespace skyport::router
