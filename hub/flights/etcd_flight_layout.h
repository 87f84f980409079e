// Where the control tower's flights live in etcd (--store etcd), how each
// value is encoded, and what one Save writes. Pure: no I/O. Every key is
// below one root, ROOT = --etcd-prefix + "hub/flights/":
//
//   ROOT meta/<id>/spec          {"name","app","created_ms","spec"}: written once, when the flight starts
//   ROOT meta/<id>/state         {"state","finished","log_first","log_next","writer","write"}
//   ROOT log/<id>/<seq:016x>     the timeline entries of one step (a JSON array)
//
// Flight ids are [A-Za-z0-9._-]{1,64} (tower.cc NewFlightId), so "<id>/" is
// one flight's range. meta/ and log/ are apart so that a takeover reads every
// flight's spec and state without paging through the timelines.
//
// Bounds (each counted by the store, and logged when it bites); the ones
// every store shares, and their decisions, are in hub/flights/flight_bounds.h:
// - one Save is one Txn of at most kEtcdMaxRequestBytes (etcd's default
//   --max-request-bytes) and a handful of ops (etcd's --max-txn-ops is 128);
//   over it the Save fails, writing nothing;
// - a step's entries are one batch (BoundStepLog);
// - a flight keeps its last kMaxLogBatches batches (older ones are deleted in
//   the Txn that writes the new one);
// - at most kMaxFinishedFlights finished flights are kept: the Txn that
//   finishes one deletes the oldest finished beyond the bound (at most
//   kMaxPrunesPerSave at a time).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "hub/flights/flight_bounds.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "hub/flights/flight_store.h"
#include "skyport/v1/hub.pb.h"

namespace skyport::hub {

inline constexpr size_t kEtcdMaxRequestBytes = 1'572'864;  // 1.5 MiB
inline constexpr size_t kMaxPrunesPerSave = 8;
// Keys per Range page: a spec is at most 1 MiB (flight_service.cc), so a page
// of meta keys stays under 32 MiB; a log batch is at most 16 KiB.
inline constexpr int64_t kMetaPageKeys = 32;
inline constexpr int64_t kLogPageKeys = 256;

class FlightKeys {
 public:
  explicit FlightKeys(const std::string& prefix) : root_(prefix + "hub/flights/") {}
  const std::string& root() const { return root_; }
  std::string MetaPrefix() const { return root_ + "meta/"; }
  std::string Spec(const std::string& id) const { return MetaPrefix() + id + "/spec"; }
  std::string State(const std::string& id) const { return MetaPrefix() + id + "/state"; }
  std::string FlightMeta(const std::string& id) const { return MetaPrefix() + id + "/"; }
  std::string LogPrefix(const std::string& id) const { return root_ + "log/" + id + "/"; }
  std::string LogBatch(const std::string& id, uint64_t seq) const;
  // A key under MetaPrefix(): {id, "spec"|"state"}; nullopt for anything else.
  std::optional<std::pair<std::string, std::string>> ParseMeta(std::string_view key) const;

 private:
  std::string root_;
};

// Whether `id` can be a key segment ([A-Za-z0-9._-]{1,64}).
Status CheckFlightId(const std::string& id);

// meta/<id>/state.
struct FlightRecord {
  std::string state_json;
  bool finished = false;
  uint64_t log_first = 0;  // oldest batch kept
  uint64_t log_next = 0;   // the next batch's seq
  std::string writer;      // who wrote it, and its write count: tells our own write from another's on a read-back
  uint64_t write = 0;
};

std::string EncodeSpec(const StoredFlight& f);
std::string EncodeRecord(const FlightRecord& r);
// Fills id (from the caller), name, app, spec_json, created_unix_ms.
Result<StoredFlight> DecodeSpec(const std::string& id, std::string_view value);
Result<FlightRecord> DecodeRecord(std::string_view value);

// One step's entries, bounded as the header says.
struct BoundedBatch {
  std::string value;       // the JSON array
  uint64_t truncated = 0;  // entries cut or whose data was dropped
  uint64_t dropped = 0;    // entries left out (replaced by one note)
};
BoundedBatch EncodeBatch(const std::vector<v1::FlightLogEntry>& entries);
Result<std::vector<v1::FlightLogEntry>> DecodeBatch(std::string_view value);

// What the store knows of a flight it has loaded or written.
struct KnownFlight {
  FlightRecord record;
  int64_t mod_revision = 0;  // of meta/<id>/state (0: not in etcd)
  int64_t created_unix_ms = 0;
};

// One Save as a Txn (without the leader fence, which Leadership::FencedTxn
// adds): if meta/<id>/state is still at known.mod_revision, put the state
// (and the spec, for a new flight), the step's batch, and delete the batches
// and finished flights beyond the bounds; else read the state back.
struct SavePlan {
  etcdserverpb::TxnRequest txn;
  FlightRecord record;   // as written
  BoundedBatch batch;    // value empty when there were no entries
  uint64_t batches_dropped = 0;
  std::vector<std::string> pruned;  // finished flights deleted
};
// `known` is nullopt for a flight not yet in etcd; `finished` holds every
// finished flight in etcd by (created_unix_ms, id). RESOURCE_EXHAUSTED when
// the Txn would exceed etcd's request limit; INVALID_ARGUMENT for a bad id.
Result<SavePlan> PlanSave(const FlightKeys& keys, const StoredFlight& flight,
                          const std::vector<v1::FlightLogEntry>& log, const std::optional<KnownFlight>& known,
                          const FinishedFlights& finished, const std::string& writer,
                          uint64_t write);

// Paging: a Range over [key, range_end) of at most `limit` keys at `revision`
// (0: the latest; the first page's revision is then used for the rest, so
// all pages are one snapshot).
etcdserverpb::RangeRequest PageRequest(std::string key, std::string range_end, int64_t limit, int64_t revision);
// The next page's start key, or nullopt when `r` was the last page.
std::optional<std::string> NextPageKey(const etcdserverpb::RangeResponse& r);

}  // namespace skyport::hub
