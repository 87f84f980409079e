#include "hub/flights/etcd_flight_layout.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rpc/etcd_endpoints.h"

namespace skyport::hub {
namespace {

using nlohmann::json;

// Bytes of the fence Leadership::FencedTxn adds (a compare and a failure
// read of the leader key): generous, the leader key is short.
constexpr size_t kFenceBytes = 1024;

template <class T>
Result<T> Field(const json& doc, const char* name, std::string_view what) {
  auto it = doc.find(name);
  if (it == doc.end()) return Status::DataLoss(fmt::format("{}: no \"{}\"", what, name));
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return Status::DataLoss(fmt::format("{}: \"{}\" has the wrong type", what, name));
  }
}

Result<json> ParseObject(std::string_view value, std::string_view what) {
  json doc = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::DataLoss(fmt::format("{}: not a JSON object", what));
  return doc;
}

void AddDeleteRange(etcdserverpb::TxnRequest& txn, const std::string& key, const std::string& end) {
  auto* d = txn.add_success()->mutable_request_delete_range();
  d->set_key(key);
  d->set_range_end(end);
}

}  // namespace

std::string FlightKeys::LogBatch(const std::string& id, uint64_t seq) const {
  return fmt::format("{}{:016x}", LogPrefix(id), seq);
}

std::optional<std::pair<std::string, std::string>> FlightKeys::ParseMeta(std::string_view key) const {
  const std::string prefix = MetaPrefix();
  if (key.substr(0, prefix.size()) != prefix) return std::nullopt;
  key.remove_prefix(prefix.size());
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string id(key.substr(0, slash));
  std::string which(key.substr(slash + 1));
  if ((which != "spec" && which != "state") || !CheckFlightId(id).ok()) return std::nullopt;
  return std::make_pair(std::move(id), std::move(which));
}

Status CheckFlightId(const std::string& id) {
  if (id.empty() || id.size() > 64) return Status::InvalidArgument("flight id: 1 to 64 characters");
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return Status::InvalidArgument(fmt::format("flight id \"{}\": only letters, digits, '.', '_' and '-'", id));
  return Status::Ok();
}

std::string EncodeSpec(const StoredFlight& f) {
  return json{{"name", f.name}, {"app", f.app}, {"created_ms", f.created_unix_ms}, {"spec", f.spec_json}}.dump();
}

std::string EncodeRecord(const FlightRecord& r) {
  return json{{"state", r.state_json}, {"finished", r.finished}, {"log_first", r.log_first},
              {"log_next", r.log_next}, {"writer", r.writer}, {"write", r.write}}
      .dump();
}

Result<StoredFlight> DecodeSpec(const std::string& id, std::string_view value) {
  auto doc = ParseObject(value, "flight spec record");
  if (!doc.ok()) return doc.status();
  StoredFlight f;
  f.id = id;
  auto name = Field<std::string>(*doc, "name", "flight spec record");
  auto app = Field<std::string>(*doc, "app", "flight spec record");
  auto created = Field<int64_t>(*doc, "created_ms", "flight spec record");
  auto spec = Field<std::string>(*doc, "spec", "flight spec record");
  for (const Status* s : {&name.status(), &app.status(), &created.status(), &spec.status()})
    if (!s->ok()) return *s;
  f.name = std::move(*name);
  f.app = std::move(*app);
  f.created_unix_ms = *created;
  f.spec_json = std::move(*spec);
  return f;
}

Result<FlightRecord> DecodeRecord(std::string_view value) {
  auto doc = ParseObject(value, "flight state record");
  if (!doc.ok()) return doc.status();
  FlightRecord r;
  auto state = Field<std::string>(*doc, "state", "flight state record");
  auto finished = Field<bool>(*doc, "finished", "flight state record");
  auto first = Field<uint64_t>(*doc, "log_first", "flight state record");
  auto next = Field<uint64_t>(*doc, "log_next", "flight state record");
  auto writer = Field<std::string>(*doc, "writer", "flight state record");
  auto write = Field<uint64_t>(*doc, "write", "flight state record");
  for (const Status* s : {&state.status(), &finished.status(), &first.status(), &next.status(), &writer.status(),
                          &write.status()})
    if (!s->ok()) return *s;
  if (*first > *next) return Status::DataLoss("flight state record: log_first after log_next");
  r.state_json = std::move(*state);
  r.finished = *finished;
  r.log_first = *first;
  r.log_next = *next;
  r.writer = std::move(*writer);
  r.write = *write;
  return r;
}

BoundedBatch EncodeBatch(const std::vector<v1::FlightLogEntry>& entries) {
  BoundedStepLog bounded = BoundStepLog(entries);
  BoundedBatch out;
  out.truncated = bounded.truncated;
  out.dropped = bounded.dropped;
  out.value = "[";
  for (const auto& e : bounded.entries) {
    if (out.value.size() > 1) out.value += ',';
    out.value += FlightLogEntryJson(e);
  }
  out.value += ']';
  return out;
}

Result<std::vector<v1::FlightLogEntry>> DecodeBatch(std::string_view value) {
  json arr = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!arr.is_array()) return Status::DataLoss("flight log batch: not a JSON array");
  std::vector<v1::FlightLogEntry> out;
  for (const json& j : arr) {
    if (!j.is_object()) return Status::DataLoss("flight log batch: an entry is not an object");
    auto ms = Field<int64_t>(j, "unix_ms", "flight log entry");
    auto step = Field<std::string>(j, "step", "flight log entry");
    auto kind = Field<std::string>(j, "kind", "flight log entry");
    auto message = Field<std::string>(j, "message", "flight log entry");
    auto data = Field<std::string>(j, "data", "flight log entry");
    for (const Status* s : {&ms.status(), &step.status(), &kind.status(), &message.status(), &data.status()})
      if (!s->ok()) return *s;
    v1::FlightLogEntry e;
    e.set_unix_ms(*ms);
    e.set_step(std::move(*step));
    e.set_kind(std::move(*kind));
    e.set_message(std::move(*message));
    e.set_data_json(std::move(*data));
    out.push_back(std::move(e));
  }
  return out;
}

Result<SavePlan> PlanSave(const FlightKeys& keys, const StoredFlight& flight,
                          const std::vector<v1::FlightLogEntry>& log, const std::optional<KnownFlight>& known,
                          const FinishedFlights& finished, const std::string& writer,
                          uint64_t write) {
  if (Status s = CheckFlightId(flight.id); !s.ok()) return s;
  SavePlan plan;
  FlightRecord& r = plan.record;
  if (known) r = known->record;
  r.state_json = flight.state_json;
  r.finished = flight.finished;
  r.writer = writer;
  r.write = write;
  auto& txn = plan.txn;
  auto* c = txn.add_compare();
  c->set_key(keys.State(flight.id));
  c->set_target(etcdserverpb::Compare::MOD);
  c->set_result(etcdserverpb::Compare::EQUAL);
  c->set_mod_revision(known ? known->mod_revision : 0);
  if (!known) {
    auto* spec = txn.add_success()->mutable_request_put();
    spec->set_key(keys.Spec(flight.id));
    spec->set_value(EncodeSpec(flight));
  }
  if (!log.empty()) {
    plan.batch = EncodeBatch(log);
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(keys.LogBatch(flight.id, r.log_next));
    put->set_value(plan.batch.value);
    ++r.log_next;
    const uint64_t first = FirstStepKept(r.log_first, r.log_next, kMaxLogBatches);
    if (first > r.log_first) {
      plan.batches_dropped = first - r.log_first;
      AddDeleteRange(txn, keys.LogBatch(flight.id, r.log_first), keys.LogBatch(flight.id, first));
      r.log_first = first;
    }
  }
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(keys.State(flight.id));
  put->set_value(EncodeRecord(r));
  // A flight that finishes now may push the oldest finished ones out.
  const bool newly_finished = flight.finished && !(known && known->record.finished);
  plan.pruned = FinishedToForget(finished, flight.id, newly_finished, kMaxFinishedFlights, kMaxPrunesPerSave);
  for (const auto& id : plan.pruned) {
    AddDeleteRange(txn, keys.FlightMeta(id), etcd::PrefixEnd(keys.FlightMeta(id)));
    AddDeleteRange(txn, keys.LogPrefix(id), etcd::PrefixEnd(keys.LogPrefix(id)));
  }
  // On a failed compare: the state as it is now (our own earlier write, or another's?).
  txn.add_failure()->mutable_request_range()->set_key(keys.State(flight.id));
  const size_t bytes = txn.ByteSizeLong() + kFenceBytes;
  if (bytes > kEtcdMaxRequestBytes)
    return Status::ResourceExhausted(fmt::format(
        "flight {}: this step's write is {} bytes, over etcd's request limit of {} bytes; nothing was written",
        flight.id, bytes, kEtcdMaxRequestBytes));
  return plan;
}

etcdserverpb::RangeRequest PageRequest(std::string key, std::string range_end, int64_t limit, int64_t revision) {
  etcdserverpb::RangeRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(range_end));
  r.set_limit(limit);
  r.set_revision(revision);
  r.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  r.set_sort_target(etcdserverpb::RangeRequest::KEY);
  return r;
}

std::optional<std::string> NextPageKey(const etcdserverpb::RangeResponse& r) {
  if (!r.more() || r.kvs_size() == 0) return std::nullopt;
  return r.kvs(r.kvs_size() - 1).key() + std::string(1, '\0');
}

}  // namespace skyport::hub
