#include "hub/flights/etcd_flight_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/prom_text.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::hub {

EtcdFlightStore::EtcdFlightStore(FencedKv kv, EtcdFlightStoreOptions o)
    : kv_(std::move(kv)), o_(std::move(o)), keys_(o_.prefix) {}

Status EtcdFlightStore::Save(const StoredFlight& f, const std::vector<v1::FlightLogEntry>& log) {
  std::lock_guard lock(mu_);
  if (conflict_)
    return Status::Aborted("flights in etcd changed under this hub; it stops so that the next leader loads them");
  std::optional<KnownFlight> known;
  if (auto it = known_.find(f.id); it != known_.end()) known = it->second;
  auto plan = PlanSave(keys_, f, log, known, finished_, o_.writer, ++writes_);
  if (!plan.ok()) {
    if (plan.status().code() == Code::kResourceExhausted) ++refused_oversized_;
    log::Error("flight not written to etcd", {{"id", f.id}, {"error", plan.status().message()}});
    return plan.status();
  }
  auto res = kv_.txn(plan->txn);
  if (res.ok() && res->succeeded()) {
    CommitLocked(f, *plan, res->header().revision());
    return Status::Ok();
  }
  if (res.ok()) {  // the fence held, our compare on the flight's state did not
    const auto& now = res->responses_size() > 0 ? res->responses(0).response_range() : etcdserverpb::RangeResponse();
    std::string who = "nobody (the flight is gone)";
    if (now.kvs_size() == 1) {
      auto rec = DecodeRecord(now.kvs(0).value());
      auto pending = unknown_.find(f.id);
      if (rec.ok() && rec->writer == o_.writer && pending != unknown_.end() && rec->write == pending->second)
        who = "this hub, by a write whose answer was lost and which etcd applied late";
      else
        who = rec.ok() ? fmt::format("writer {}", rec->writer) : "an unreadable record";
    }
    return ConflictLocked(f.id, "its state in etcd was written by " + who);
  }
  if (res.status().code() == Code::kUnavailable) {
    ++unknown_outcomes_;
    return ResolveLocked(f, *plan);
  }
  if (res.status().code() == Code::kFailedPrecondition) ++fenced_out_;
  return res.status();
}

Status EtcdFlightStore::ResolveLocked(const StoredFlight& f, const SavePlan& plan) {
  unknown_[f.id] = plan.record.write;
  etcdserverpb::RangeRequest r;
  r.set_key(keys_.State(f.id));
  auto got = kv_.range(std::move(r));
  if (!got.ok())
    return Status::Unavailable(fmt::format(
        "flight {}: etcd's answer to the write was lost and reading it back failed ({}): the step is not "
        "acknowledged and will be tried again",
        f.id, got.status().message()));
  int64_t rev = 0;
  if (got->kvs_size() == 1) {
    const auto& kv = got->kvs(0);
    rev = kv.mod_revision();
    auto rec = DecodeRecord(kv.value());
    if (rec.ok() && rec->writer == o_.writer && rec->write == plan.record.write) {
      ++resolved_landed_;
      log::Info("flight write: answer lost, read back: applied", {{"id", f.id}});
      CommitLocked(f, plan, rev);
      return Status::Ok();
    }
  }
  auto it = known_.find(f.id);
  if (rev == (it == known_.end() ? 0 : it->second.mod_revision)) {
    ++resolved_not_landed_;
    return Status::Unavailable(fmt::format(
        "flight {}: etcd's answer to the write was lost; read back: not applied. The step is not acknowledged "
        "and will be tried again",
        f.id));
  }
  return ConflictLocked(f.id, "its state in etcd moved to a write this hub did not acknowledge");
}

Status EtcdFlightStore::ConflictLocked(const std::string& id, const std::string& why) {
  ++conflicts_;
  const std::string reason = fmt::format("flight {}: {}; this hub's flights no longer match etcd", id, why);
  log::Error("flight store conflict", {{"id", id}, {"reason", reason}});
  if (!conflict_) {
    conflict_ = true;
    if (o_.on_conflict) o_.on_conflict(reason);
  }
  return Status::Aborted(reason);
}

void EtcdFlightStore::CommitLocked(const StoredFlight& f, const SavePlan& plan, int64_t revision) {
  ++saves_;
  unknown_.erase(f.id);
  KnownFlight& k = known_[f.id];
  k.record = plan.record;
  k.mod_revision = revision;
  k.created_unix_ms = f.created_unix_ms;
  if (f.finished) finished_[{f.created_unix_ms, f.id}] = true;
  for (const auto& id : plan.pruned) {
    if (auto it = known_.find(id); it != known_.end()) {
      finished_.erase({it->second.created_unix_ms, id});
      known_.erase(it);
    }
  }
  bounds_.Saved(f.id, plan.batch.truncated, plan.batch.dropped, plan.batches_dropped, plan.pruned,
                kMaxFinishedFlights, SystemClock::Get()->MonoMs());
}

Result<std::vector<mvccpb::KeyValue>> EtcdFlightStore::ReadAll(const std::string& key, const std::string& end,
                                                                int64_t limit) {
  std::vector<mvccpb::KeyValue> out;
  int64_t revision = 0;
  std::string from = key;
  for (;;) {
    auto page = kv_.range(PageRequest(from, end, limit, revision));
    if (!page.ok()) return page.status();
    if (revision == 0) revision = page->header().revision();
    auto next = NextPageKey(*page);  // before the keys are moved out
    for (auto& kv : *page->mutable_kvs()) out.push_back(std::move(kv));
    if (!next) return out;
    from = std::move(*next);
  }
}

Result<std::vector<StoredFlight>> EtcdFlightStore::LoadAll() {
  auto kvs = ReadAll(keys_.MetaPrefix(), etcd::PrefixEnd(keys_.MetaPrefix()), kMetaPageKeys);
  if (!kvs.ok()) return kvs.status();
  std::map<std::string, std::pair<const mvccpb::KeyValue*, const mvccpb::KeyValue*>> by_id;  // spec, state
  for (const auto& kv : *kvs) {
    auto parsed = keys_.ParseMeta(kv.key());
    if (!parsed) {
      log::Warn("flight store: unknown key in etcd, ignored", {{"key", kv.key()}});
      continue;
    }
    auto& slot = by_id[parsed->first];
    (parsed->second == "spec" ? slot.first : slot.second) = &kv;
  }
  std::lock_guard lock(mu_);
  known_.clear();
  finished_.clear();
  unknown_.clear();
  std::vector<StoredFlight> out;
  for (const auto& [id, kv] : by_id) {
    auto skip = [&, id = id](const std::string& why) {
      log::Error("flight not loaded from etcd", {{"id", id}, {"error", why}});
    };
    if (!kv.first || !kv.second) {
      skip(kv.first ? "no state record" : "no spec record");
      continue;
    }
    auto f = DecodeSpec(id, kv.first->value());
    if (!f.ok()) {
      skip(f.status().message());
      continue;
    }
    auto rec = DecodeRecord(kv.second->value());
    if (!rec.ok()) {
      skip(rec.status().message());
      continue;
    }
    f->state_json = rec->state_json;
    f->finished = rec->finished;
    KnownFlight& k = known_[id];
    k.record = std::move(*rec);
    k.mod_revision = kv.second->mod_revision();
    k.created_unix_ms = f->created_unix_ms;
    if (f->finished) finished_[{f->created_unix_ms, id}] = true;
    out.push_back(std::move(*f));
  }
  std::sort(out.begin(), out.end(), [](const StoredFlight& a, const StoredFlight& b) {
    return std::tie(a.created_unix_ms, a.id) < std::tie(b.created_unix_ms, b.id);
  });
  log::Info("flights loaded from etcd", {{"flights", static_cast<int64_t>(out.size())},
                                         {"finished", static_cast<int64_t>(finished_.size())}});
  return out;
}

Result<FlightLogTail> EtcdFlightStore::Log(const std::string& id, size_t max_bytes) {
  if (Status s = CheckFlightId(id); !s.ok()) return s;
  // Newest batches first, in pages, all at the first page's revision; past
  // the budget the rest is only counted.
  LogTail tail(max_bytes);
  int64_t revision = 0;
  std::string end = etcd::PrefixEnd(keys_.LogPrefix(id));
  for (;;) {
    auto req = PageRequest(keys_.LogPrefix(id), end, kLogPageKeys, revision);
    req.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
    auto page = kv_.range(req);
    if (!page.ok()) return page.status();
    if (revision == 0) revision = page->header().revision();
    for (const auto& kv : page->kvs()) {
      auto batch = DecodeBatch(kv.value());
      if (!batch.ok()) return Status::DataLoss(kv.key() + ": " + batch.status().message());
      if (tail.full()) {
        tail.LeaveOut(batch->size());
        continue;
      }
      for (auto e = batch->rbegin(); e != batch->rend(); ++e) tail.Add(std::move(*e));
    }
    if (!page->more() || page->kvs_size() == 0) break;
    end = page->kvs(page->kvs_size() - 1).key();  // range_end is exclusive
  }
  FlightLogTail out;
  out.older_left_out = tail.left_out();
  out.entries = tail.Take();
  return out;
}

std::string EtcdFlightStore::MetricsText() const {
  std::lock_guard lock(mu_);
  PromText out;
  out.Counter("skyport_hub_flight_store_saves_total", "Flight steps written to etcd.", saves_);
  out.Counter("skyport_hub_flight_store_unknown_outcomes_total",
              "Flight writes whose answer from etcd was lost (then read back).", unknown_outcomes_);
  out.Counter("skyport_hub_flight_store_read_back_applied_total", "Of those, found applied on read-back.",
              resolved_landed_);
  out.Counter("skyport_hub_flight_store_read_back_not_applied_total",
              "Of those, found not applied on read-back (the step is tried again).", resolved_not_landed_);
  out.Counter("skyport_hub_flight_store_conflicts_total",
              "Flight writes that found the state in etcd moved by a write this hub did not acknowledge.", conflicts_);
  out.Counter("skyport_hub_flight_store_fenced_out_total", "Flight writes refused: this hub does not lead.",
              fenced_out_);
  out.Counter("skyport_hub_flight_store_oversized_total",
              "Flight writes refused: over etcd's request limit (nothing written).", refused_oversized_);
  bounds_.Write(out);
  return out.Take();
}

}  // namespace skyport::hub
