#include "registry/etcd_batch.h"

#include <algorithm>

#include <fmt/format.h>

namespace skyport::registry {
namespace {

namespace epb = etcdserverpb;

void Walk(const epb::TxnRequest& t, TxnFootprint& fp);

void WalkOps(const google::protobuf::RepeatedPtrField<epb::RequestOp>& ops, TxnFootprint& fp) {
  for (const auto& op : ops) {
    if (op.has_request_range()) {
      if (!op.request_range().range_end().empty()) fp.batchable = false;
      fp.reads.insert(op.request_range().key());
    } else if (op.has_request_put()) {
      fp.writes.insert(op.request_put().key());
    } else if (op.has_request_delete_range()) {
      if (!op.request_delete_range().range_end().empty()) fp.batchable = false;
      fp.writes.insert(op.request_delete_range().key());
    } else if (op.has_request_txn()) {
      Walk(op.request_txn(), fp);
    } else {
      fp.batchable = false;  // an op this code does not know: alone
    }
  }
}

void Walk(const epb::TxnRequest& t, TxnFootprint& fp) {
  for (const auto& c : t.compare()) {
    if (!c.range_end().empty()) fp.batchable = false;
    fp.reads.insert(c.key());
  }
  WalkOps(t.success(), fp);
  WalkOps(t.failure(), fp);
}

bool Meets(const std::set<std::string>& a, const std::set<std::string>& b) {
  const auto& small = a.size() <= b.size() ? a : b;
  const auto& large = a.size() <= b.size() ? b : a;
  return std::any_of(small.begin(), small.end(), [&](const std::string& k) { return large.count(k) > 0; });
}

}  // namespace

TxnFootprint FootprintOf(const epb::TxnRequest& t) {
  TxnFootprint fp;
  Walk(t, fp);
  return fp;
}

epb::TxnRequest NestTxns(std::vector<epb::TxnRequest> members) {
  epb::TxnRequest batch;
  for (auto& m : members) *batch.add_success()->mutable_request_txn() = std::move(m);
  return batch;
}

Result<epb::TxnResponse> MemberAnswer(const epb::TxnResponse& batch, size_t members, size_t i) {
  if (!batch.succeeded() || static_cast<size_t>(batch.responses_size()) != members || i >= members ||
      !batch.responses(static_cast<int>(i)).has_response_txn())
    return Status::Unavailable(fmt::format(
        "etcd answered a batch of {} Txns with {} answers (the outcome is unknown: the request may have been "
        "applied; read back)",
        members, batch.responses_size()));
  epb::TxnResponse r = batch.responses(static_cast<int>(i)).response_txn();
  *r.mutable_header() = batch.header();
  return r;
}

bool BatchRefusedUnapplied(Code code) { return code == Code::kInvalidArgument || code == Code::kNotFound; }

bool TxnBatchPlan::Add(uint64_t ticket, TxnFootprint footprint, size_t bytes, int64_t now_ms) {
  if (queue_.size() >= limits_.queued) return false;
  queue_.push_back(Waiting{ticket, std::move(footprint), bytes, now_ms});
  return true;
}

TxnBatchPlan::Batch TxnBatchPlan::Next(int64_t now_ms) {
  Batch b;
  // The queue is in arrival order: the expired are at its front.
  while (!queue_.empty() && now_ms - queue_.front().since_ms >= limits_.max_wait_ms) {
    b.expired.push_back(queue_.front().ticket);
    queue_.pop_front();
  }
  std::vector<uint64_t>& out = b.send;
  if (queue_.empty() || in_flight_ >= limits_.in_flight) return b;
  ++in_flight_;
  // The oldest goes in any case (alone when it cannot be batched or is large).
  Waiting first = std::move(queue_.front());
  queue_.pop_front();
  out.push_back(first.ticket);
  if (!first.footprint.batchable) return b;
  std::set<std::string> reads = std::move(first.footprint.reads), writes = std::move(first.footprint.writes);
  size_t bytes = first.bytes;
  for (auto it = queue_.begin(); it != queue_.end() && out.size() < limits_.members;) {
    const TxnFootprint& fp = it->footprint;
    const bool fits = fp.batchable && bytes + it->bytes <= limits_.bytes && !Meets(fp.writes, writes) &&
                      !Meets(fp.writes, reads) && !Meets(fp.reads, writes);
    if (!fits) {
      ++it;
      continue;
    }
    out.push_back(it->ticket);
    bytes += it->bytes;
    reads.insert(fp.reads.begin(), fp.reads.end());
    writes.insert(fp.writes.begin(), fp.writes.end());
    it = queue_.erase(it);
  }
  return b;
}

void TxnBatchPlan::Done() {
  if (in_flight_ > 0) --in_flight_;
}

void TxnBatchPlan::Shrink() { limits_.members = std::max<size_t>(1, limits_.members / 2); }

}  // namespace skyport::registry
