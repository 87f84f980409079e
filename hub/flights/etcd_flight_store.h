// The flight store of several hubs (--store etcd): flights and their
// timelines in etcd (layout and bounds: hub/flights/etcd_flight_layout.h),
// written only by the leader.
//
// What it promises, beyond FlightStore's:
// - Every write is one Txn through the leader fence (FencedKv::txn, i.e.
//   hub/ha/leadership.h FencedTxn): a standby or a deposed leader writes
//   nothing (FAILED_PRECONDITION), even before it knows it was deposed.
// - A write also compares the flight's state key with the revision this
//   store last wrote or loaded, so nothing it did not see is overwritten and
//   an old write that etcd applies late can never land over a newer one.
// - When etcd's answer is lost (UNAVAILABLE: the write may or may not have
//   been applied) the state is read back: our write there -> OK; still the
//   old one -> UNAVAILABLE, "not written" (the tower steps again). If a write
//   whose outcome stayed unknown turns out to have landed after all, or the
//   state was written by someone else, the tower's memory no longer matches
//   etcd: the store says so once through `on_conflict` (the daemon then ends,
//   as on deposition, and the next leader loads what etcd holds) and fails
//   every later write (ABORTED).
// - LoadAll and Log read in pages (one snapshot revision per call); Log
//   reads the newest batches first.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hub/flights/etcd_flight_layout.h"
#include "hub/flights/flight_bounds_report.h"
#include "hub/flights/flight_store.h"
#include "hub/ha/fenced_kv.h"

namespace skyport::hub {

struct EtcdFlightStoreOptions {
  std::string prefix = "/skyport/";  // --etcd-prefix
  std::string writer;                // this hub's member id (tells our writes from another's)
  std::function<void(const std::string& reason)> on_conflict;
};

class EtcdFlightStore final : public FlightStore {
 public:
  EtcdFlightStore(FencedKv kv, EtcdFlightStoreOptions o);

  Status Save(const StoredFlight& flight, const std::vector<v1::FlightLogEntry>& log) override;
  // Also (re)learns every flight's revision: call it on takeover, before any Save.
  Result<std::vector<StoredFlight>> LoadAll() override;
  Result<FlightLogTail> Log(const std::string& id, size_t max_bytes) override;
  // skyport_hub_flight_store_* counters (bounds that bit, unknown outcomes, conflicts).
  std::string MetricsText() const override;

 private:
  // Every key in [key, end) in pages of `limit`, one snapshot.
  Result<std::vector<mvccpb::KeyValue>> ReadAll(const std::string& key, const std::string& end, int64_t limit);
  void CommitLocked(const StoredFlight& f, const SavePlan& plan, int64_t revision);
  Status ConflictLocked(const std::string& id, const std::string& why);
  // After a lost answer: what meta/<id>/state holds now.
  Status ResolveLocked(const StoredFlight& f, const SavePlan& plan);

  const FencedKv kv_;
  const EtcdFlightStoreOptions o_;
  const FlightKeys keys_;
  mutable std::mutex mu_;
  std::map<std::string, KnownFlight> known_;                      // by id; guarded by mu_
  std::map<std::pair<int64_t, std::string>, bool> finished_;      // (created, id); guarded by mu_
  std::map<std::string, uint64_t> unknown_;  // id -> our write whose outcome is unknown; guarded by mu_
  uint64_t writes_ = 0;                      // guarded by mu_
  bool conflict_ = false;                    // guarded by mu_
  FlightBoundsReport bounds_{"etcd", kMaxLogBatches};  // guarded by mu_
  // Counters; guarded by mu_.
  uint64_t saves_ = 0, unknown_outcomes_ = 0, resolved_landed_ = 0, resolved_not_landed_ = 0, conflicts_ = 0,
           refused_oversized_ = 0, fenced_out_ = 0;
};

}  // namespace skyport::hub
