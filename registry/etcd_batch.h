// Group commit for the etcd store (pure): independent Txns sent together as
// the nested Txns of one Txn. TxnBatcher (etcd_batcher.h) does the sending.
//
// Why: etcd 3.4 copies its whole uncommitted write buffer (every key written
// since the last backend commit, up to 100 ms of writes) for each write Txn it
// applies (etcdserver/apply.go Txn -> KV().Read -> ConcurrentReadTx; fixed in
// etcd 3.5 by etcd-io/etcd#12896). The apply loop is one goroutine, so a
// Txn's cost grows with the write rate and Txns/s saturate far below Puts/s
// (measured: 8 clients looping the one-trip Register Txn, ~500/s; Puts, ~1,700/s).
// N Txns nested in one are applied with one copy.
//
// Why it is the same as sending them one by one: etcd evaluates every compare
// of a Txn, nested ones included, against the state before the Txn
// (apply.go compareToPath), then runs the chosen branches in order. A member
// whose keys (compared, ranged, put or deleted, in any branch) include no key
// another member writes sees exactly what it would see alone, just before
// or after the others; its own compares choose its own branch, so a member
// whose compares fail changes nothing for the others. TxnBatchPlan only puts
// together members that are disjoint in that sense; a Txn over a key range is
// never batched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace skyport::registry {

struct TxnFootprint {
  std::set<std::string> reads;   // compared or ranged, in any branch
  std::set<std::string> writes;  // put or deleted, in any branch
  bool batchable = true;         // false: an op over a range of keys (sent alone)
};
TxnFootprint FootprintOf(const etcdserverpb::TxnRequest& t);

// The batch: `members` nested in order in the success branch of a Txn
// without compares.
etcdserverpb::TxnRequest NestTxns(std::vector<etcdserverpb::TxnRequest> members);
// Member i's answer as it would have come alone: its nested answer under the
// batch's header (the batch's revision). An answer not of the batch's shape
// is an error (the outcome is then unknown).
Result<etcdserverpb::TxnResponse> MemberAnswer(const etcdserverpb::TxnResponse& batch, size_t members, size_t i);
// Whether a batch that failed with `code` is known to have changed nothing
// and may be sent again member by member: etcd refused its shape or size
// before proposing it (INVALID_ARGUMENT: too many ops, duplicate key, request
// too large), or found a member's lease missing before applying anything
// (NOT_FOUND, etcdserver/apply.go checkRequests). Anything else may have been
// applied (or was refused for a reason a member alone would meet too).
bool BatchRefusedUnapplied(Code code);

// Which waiting Txns go together, and when. Not thread-safe (TxnBatcher
// holds it under its lock). A Txn is sent at once while fewer than
// `in_flight` batches are out (alone, at low load: no added latency); the
// Txns that arrive meanwhile wait and leave together when a batch comes back.
class TxnBatchPlan {
 public:
  struct Limits {
    // Batches sent and not yet answered. One measured best on a 3-member
    // etcd (docs/benchmarks.md): more in flight means smaller batches, and
    // each Txn pays etcd's copy.
    size_t in_flight = 1;
    // Members per batch. etcd's --max-txn-ops (128 by default) bounds the ops
    // of each level of a Txn, the members at the top and, below them, what the
    // top leaves: the deepest member (the one-trip Register: 3 levels, 8 ops)
    // needs 128 - members >= 8. A lower --max-txn-ops: see Shrink.
    size_t members = 64;
    size_t bytes = 256 * 1024;  // encoded size of a batch (etcd refuses over 1.5 MiB)
    size_t queued = 4096;       // Txns waiting; beyond, Add refuses
    // A Txn that waited this long is not sent (Next hands it back as expired):
    // with etcd hanging, each batch takes its whole deadline, and the queue's
    // tail would otherwise be sent minutes after its caller gave up. The
    // registry sets it to the etcd request timeout.
    int64_t max_wait_ms = 5000;
  };
  explicit TxnBatchPlan(Limits limits) : limits_(limits) {}

  // Queues `ticket` at `now_ms` (false, nothing queued, when `queued` Txns
  // wait already).
  bool Add(uint64_t ticket, TxnFootprint footprint, size_t bytes, int64_t now_ms);
  struct Batch {
    std::vector<uint64_t> send;     // in queue order; empty: nothing to send now
    std::vector<uint64_t> expired;  // waited max_wait_ms or more: never sent, to be answered so
  };
  // At `now_ms`: every waiting Txn past max_wait_ms as expired and, when a
  // slot is free and a Txn waits, the next batch (the slot is taken). A batch
  // holds the oldest waiting Txn and then every later one that fits beside it
  // (disjoint, within the member and byte limits); the others keep their place.
  Batch Next(int64_t now_ms);
  // A batch was answered or failed: its slot is free.
  void Done();
  // etcd refused a batch's shape (its --max-txn-ops may be lower than ours):
  // halve the members per batch, down to 1 (no batching).
  void Shrink();

  size_t members_limit() const { return limits_.members; }
  int64_t max_wait_ms() const { return limits_.max_wait_ms; }
  size_t waiting() const { return queue_.size(); }
  size_t in_flight() const { return in_flight_; }

 private:
  struct Waiting {
    uint64_t ticket;
    TxnFootprint footprint;
    size_t bytes;
    int64_t since_ms;
  };
  Limits limits_;
  std::deque<Waiting> queue_;
  size_t in_flight_ = 0;
};

}  // namespace skyport::registry
