// TxnBatcher: the etcd store's write Txns, group-committed (the why and the
// proof: etcd_batch.h). What it promises:
// - Each Txn handed to Txn() is sent exactly once, alone or nested in a batch,
//   and its `done` runs exactly once with the answer it would have had alone
//   (a batch's members share the batch's revision). A member whose compares
//   fail gets its own failure answer; the others are not affected.
// - While fewer than Limits::in_flight batches are out, a Txn leaves at once:
//   at low load nothing waits.
// - A batch that etcd refused without applying it (etcd_batch.h
//   BatchRefusedUnapplied) is sent again member by member (counted, logged);
//   after a refusal of its shape, batches are halved. Any other failure of a
//   batch is each member's failure, as it would have been alone: nothing is
//   acknowledged that etcd did not commit.
// - At most Limits::queued Txns wait; beyond, Txn answers UNAVAILABLE at once
//   (counted, logged) and sends nothing. A Txn that waited Limits::max_wait_ms
//   (etcd hanging) is answered UNAVAILABLE and never sent (counted, logged).
// Thread-safe; `send` and every `done` run without the batcher's lock held.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "core/clock.h"
#include "core/log_limiter.h"
#include "core/prom_text.h"
#include "core/status.h"
#include "registry/etcd_batch.h"

namespace skyport::registry {

class TxnBatcher {
 public:
  using Answer = std::function<void(Result<etcdserverpb::TxnResponse>)>;
  // Sends one Txn to etcd (etcd::Client::Txn); `done` may run on any thread.
  using Send = std::function<void(etcdserverpb::TxnRequest, Answer)>;

  // `clock` (MonoMs) times the waits.
  TxnBatcher(Send send, TxnBatchPlan::Limits limits, const Clock* clock)
      : send_(std::move(send)), clock_(clock), plan_(limits) {}

  void Txn(etcdserverpb::TxnRequest t, Answer done);

  // skyport_registry_etcd_txn_batches_total, _batched_txns_total,
  // _batch_fallbacks_total, _txn_queue_full_total, _txn_wait_expired_total.
  void WriteMetrics(PromText& out) const;

 private:
  struct Member {
    etcdserverpb::TxnRequest txn;
    Answer done;
  };
  struct Taken {
    std::vector<Member> send, expired;
  };
  // The plan's Next now: the next batch's members, and those that waited too long.
  Taken TakeLocked();
  // Sends `t.send` (when not empty) and refuses `t.expired`.
  void Dispatch(Taken t);
  void Launch(std::vector<Member> batch);
  // A batch came back: frees its slot and sends the next one.
  void Finished();
  void Fallback(std::vector<Member> batch, const Status& why);

  Send send_;
  const Clock* clock_;
  mutable std::mutex mu_;
  TxnBatchPlan plan_;                 // guarded by mu_
  std::map<uint64_t, Member> waiting_;  // guarded by mu_
  uint64_t next_ticket_ = 0;          // guarded by mu_
  LogLimiter log_;                    // guarded by mu_
  std::atomic<uint64_t> batches_{0}, batched_{0}, fallbacks_{0}, queue_full_{0}, expired_{0};
};

}  // namespace skyport::registry
