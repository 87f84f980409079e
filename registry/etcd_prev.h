// The previous values of deleted entries, read by the registry instead of
// asked of etcd's watch. Pure: no I/O.
//
// Why: etcd 3.4 answers a watch's prev_kv with one Range per event, each
// opening a read transaction (which copies the backend's pending writes), and
// one revision deleting K keys costs O(K^2) (measured): a lease of 10,000
// endpoints (20,000 keys with their ports) took 49 s to reach an
// `etcdctl watch --prev-kv`, 1.8 s without prev_kv (docs/benchmarks.md).
// The registry therefore watches WITHOUT prev_kv (RegistryWatchSpec) and, for
// the deletes watchers see (endpoint and route keys; ports and leases are not
// events), reads the values itself at the revision before each delete: one
// Range per key while there are few, ONE paged Range over their span when
// there are more than kMaxKeyReads in a revision (a lease's end). Either way
// the cost is linear, the events keep their revision and order, and a
// watcher still gets every entry as it was (etcd_events.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "registry/etcd_keys.h"
#include "rpc/etcd_client.h"

namespace skyport::registry {

// Deleted keys of one kind in one revision read one by one up to this many;
// beyond, one Range over their span (which may also return keys that were
// not deleted: they are dropped as they arrive).
inline constexpr size_t kMaxKeyReads = 8;

// The etcd watch of the registry's keys from `start_revision`: no prev_kv.
etcd::WatchSpec RegistryWatchSpec(const EtcdKeys& keys, int64_t start_revision);

// (revision of the delete, key).
using PrevKey = std::pair<int64_t, std::string>;

struct PrevRead {
  int64_t revision = 0;   // read at this revision: the delete's minus one
  std::string key;
  std::string range_end;  // "": exactly `key`; else [key, range_end), paged
};

struct PrevPlan {
  std::vector<PrevRead> reads;         // in the order of the events' revisions
  std::map<PrevKey, size_t> wanted;    // every delete needing a value -> its event's index
};

// What to read so that every delete of an endpoint or route key in `events`
// that came without prev_kv gets it.
PrevPlan PlanPrevReads(const EtcdKeys& keys, const std::vector<mvccpb::Event>& events);

// Gives `events` the values read for `plan`: `read_at` is the revision a
// read ran at, `kvs` what it returned (unwanted keys are ignored). Returns
// how many deletes got their value. A delete that gets none keeps none
// (ToEvent then reports it as DATA_LOSS).
size_t AttachPrev(const PrevPlan& plan, int64_t read_at,
                  const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs,
                  std::vector<mvccpb::Event>& events);

}  // namespace skyport::registry
