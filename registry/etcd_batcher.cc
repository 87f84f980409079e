#include "registry/etcd_batcher.h"

#include <fmt/format.h>

#include "core/log.h"

namespace skyport::registry {

void TxnBatcher::Txn(etcdserverpb::TxnRequest t, Answer done) {
  TxnFootprint fp = FootprintOf(t);
  const size_t bytes = t.ByteSizeLong();
  Taken taken;
  size_t waiting = 0;
  bool refused = false, log_it = false;
  uint64_t not_logged = 0;
  {
    std::lock_guard lock(mu_);
    const uint64_t ticket = next_ticket_++;
    if (plan_.Add(ticket, std::move(fp), bytes, clock_->MonoMs())) {
      waiting_.emplace(ticket, Member{std::move(t), std::move(done)});
      taken = TakeLocked();
    } else {
      refused = true;
      waiting = plan_.waiting();
      log_it = log_.Allow(clock_->MonoMs(), &not_logged);
    }
  }
  if (refused) {
    ++queue_full_;
    if (log_it)
      log::Warn("etcd writes refused: too many wait for etcd",
                {{"waiting", static_cast<int64_t>(waiting)}, {"refused_not_logged", not_logged}});
    return done(Status::Unavailable(fmt::format("etcd: {} writes wait for etcd already; try again", waiting)));
  }
  Dispatch(std::move(taken));
}

TxnBatcher::Taken TxnBatcher::TakeLocked() {
  Taken out;
  const TxnBatchPlan::Batch b = plan_.Next(clock_->MonoMs());
  for (auto [tickets, into] : {std::pair{&b.send, &out.send}, std::pair{&b.expired, &out.expired}}) {
    for (uint64_t ticket : *tickets) {
      auto it = waiting_.find(ticket);
      into->push_back(std::move(it->second));
      waiting_.erase(it);
    }
  }
  return out;
}

void TxnBatcher::Dispatch(Taken t) {
  if (!t.send.empty()) Launch(std::move(t.send));
  if (t.expired.empty()) return;
  expired_ += t.expired.size();
  bool log_it = false;
  uint64_t not_logged = 0;
  int64_t max_wait_ms = 0;
  {
    std::lock_guard lock(mu_);
    log_it = log_.Allow(clock_->MonoMs(), &not_logged);
    max_wait_ms = plan_.max_wait_ms();
  }
  if (log_it)
    log::Warn("etcd writes refused: they waited too long behind others (etcd slow or hanging)",
              {{"txns", static_cast<int64_t>(t.expired.size())},
               {"max_wait_ms", max_wait_ms},
               {"refused_not_logged", not_logged}});
  for (Member& m : t.expired)
    m.done(Status::Unavailable(fmt::format(
        "etcd: waited {} ms behind other writes for etcd, which is slow or hanging; nothing was sent; try again",
        max_wait_ms)));
}

void TxnBatcher::Launch(std::vector<Member> batch) {
  if (batch.size() == 1) {
    Answer done = std::move(batch.front().done);
    return send_(std::move(batch.front().txn), [this, done = std::move(done)](Result<etcdserverpb::TxnResponse> r) {
      Finished();
      done(std::move(r));
    });
  }
  ++batches_;
  batched_ += batch.size();
  std::vector<etcdserverpb::TxnRequest> txns;
  txns.reserve(batch.size());
  for (const Member& m : batch) txns.push_back(m.txn);  // kept for a fallback
  auto members = std::make_shared<std::vector<Member>>(std::move(batch));
  send_(NestTxns(std::move(txns)), [this, members](Result<etcdserverpb::TxnResponse> r) {
    Finished();
    if (!r.ok() && BatchRefusedUnapplied(r.status().code())) return Fallback(std::move(*members), r.status());
    for (size_t i = 0; i < members->size(); ++i) {
      Answer done = std::move((*members)[i].done);
      if (!r.ok()) {
        done(r.status());
      } else {
        done(MemberAnswer(*r, members->size(), i));
      }
    }
  });
}

void TxnBatcher::Finished() {
  Taken next;
  {
    std::lock_guard lock(mu_);
    plan_.Done();
    next = TakeLocked();
  }
  Dispatch(std::move(next));
}

void TxnBatcher::Fallback(std::vector<Member> batch, const Status& why) {
  ++fallbacks_;
  bool log_it = false;
  uint64_t not_logged = 0;
  size_t limit = 0;
  {
    std::lock_guard lock(mu_);
    if (why.code() == Code::kInvalidArgument) plan_.Shrink();
    limit = plan_.members_limit();
    log_it = log_.Allow(clock_->MonoMs(), &not_logged);
  }
  if (log_it)
    log::Warn("etcd refused a batch of Txns; sending them one by one",
              {{"txns", static_cast<int64_t>(batch.size())},
               {"error", why.message()},
               {"batch_limit_now", static_cast<int64_t>(limit)},
               {"fallbacks_not_logged", not_logged}});
  // Alone, outside the slots: each answers as it would have without batching.
  for (Member& m : batch) send_(std::move(m.txn), std::move(m.done));
}

void TxnBatcher::WriteMetrics(PromText& out) const {
  out.Counter("skyport_registry_etcd_txn_batches_total",
              "etcd Txns that carried several of the registry's writes (group commit).", batches_.load());
  out.Counter("skyport_registry_etcd_batched_txns_total", "Writes (Register, Allocate) sent inside such batches.",
              batched_.load());
  out.Counter("skyport_registry_etcd_batch_fallbacks_total",
              "Batches etcd refused unapplied, sent again one Txn at a time.", fallbacks_.load());
  out.Counter("skyport_registry_etcd_txn_queue_full_total",
              "Writes refused UNAVAILABLE because too many waited for etcd.", queue_full_.load());
  out.Counter("skyport_registry_etcd_txn_wait_expired_total",
              "Writes refused UNAVAILABLE, never sent, after waiting the etcd request timeout behind others.",
              expired_.load());
}

}  // namespace skyport::registry
