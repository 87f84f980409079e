// Flights on etcd: the key layout, encodings and bounds (pure), and the
// store over a fake etcd that keeps revisions, applies Txn compares, pages
// Ranges, and can lose answers (applied or not) or fence a writer out.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/flights/etcd_flight_layout.h"
#include "hub/flights/etcd_flight_store.h"
#include "tests/unit/fake_etcd.h"

namespace skyport::hub {
namespace {

v1::FlightLogEntry Entry(int64_t ms, const std::string& kind, const std::string& message, std::string data = "") {
  v1::FlightLogEntry e;
  e.set_unix_ms(ms);
  e.set_step("2");
  e.set_kind(kind);
  e.set_message(message);
  e.set_data_json(std::move(data));
  return e;
}

StoredFlight Flight(const std::string& id, int64_t created, const std::string& state = "{\"step\":1}",
                    bool finished = false) {
  return {id, "checkout", "webapp", "{\"name\":\"checkout\"}", state, finished, created};
}

EtcdFlightStoreOptions Opts(std::string* conflict = nullptr, const std::string& writer = "hub-a") {
  EtcdFlightStoreOptions o;
  o.prefix = "/sky/";
  o.writer = writer;
  o.on_conflict = [conflict](const std::string& why) {
    if (conflict) *conflict = why;
  };
  return o;
}

TEST_CASE("flight keys: layout under <prefix>hub/flights/, meta apart from the timelines", "[hub]") {
  FlightKeys k("/sky/");
  CHECK(k.Spec("f.1a") == "/sky/hub/flights/meta/f.1a/spec");
  CHECK(k.State("f.1a") == "/sky/hub/flights/meta/f.1a/state");
  CHECK(k.LogBatch("f.1a", 26) == "/sky/hub/flights/log/f.1a/000000000000001a");
  CHECK(k.LogBatch("f", 1) < k.LogBatch("f", 16));  // fixed width: keys sort by seq
  CHECK(k.ParseMeta("/sky/hub/flights/meta/f.1a/state") == std::make_pair(std::string("f.1a"), std::string("state")));
  CHECK(k.ParseMeta("/sky/hub/flights/meta/f.1a/spec")->second == "spec");
  for (const char* bad : {"/sky/hub/flights/meta/f.1a", "/sky/hub/flights/meta/f.1a/other", "/sky/hub/flights/log/f/1",
                          "/sky/hub/flights/meta//state", "/sky/hub/flights/meta/a b/state", "/other/meta/f/state"}) {
    INFO(bad);
    CHECK_FALSE(k.ParseMeta(bad).has_value());
  }
  CHECK(CheckFlightId(std::string(64, 'a')).ok());
  for (const std::string& bad : {std::string(), std::string(65, 'a'), std::string("a/b"), std::string("a\nb")})
    CHECK(CheckFlightId(bad).code() == Code::kInvalidArgument);
}

TEST_CASE("flight records: round trips; a damaged value is DATA_LOSS", "[hub]") {
  FlightRecord r{"{\"x\":1}", true, 3, 9, "hub-a", 42};
  auto back = DecodeRecord(EncodeRecord(r));
  REQUIRE(back.ok());
  CHECK((back->state_json == r.state_json && back->finished && back->log_first == 3 && back->log_next == 9 &&
         back->writer == "hub-a" && back->write == 42));
  auto spec = DecodeSpec("f1", EncodeSpec(Flight("f1", 1234)));
  REQUIRE(spec.ok());
  CHECK((spec->id == "f1" && spec->name == "checkout" && spec->app == "webapp" && spec->created_unix_ms == 1234 &&
         spec->spec_json == "{\"name\":\"checkout\"}"));
  for (const char* bad : {"", "[]", "{\"state\":1}", "{\"state\":\"s\",\"finished\":true,\"log_first\":5,"
                                                    "\"log_next\":2,\"writer\":\"w\",\"write\":1}"}) {
    INFO(bad);
    CHECK(DecodeRecord(bad).status().code() == Code::kDataLoss);
  }
  CHECK(DecodeSpec("f", "{\"name\":\"n\"}").status().code() == Code::kDataLoss);
  CHECK(DecodeBatch("{}").status().code() == Code::kDataLoss);
  CHECK(DecodeBatch("[{\"unix_ms\":\"x\"}]").status().code() == Code::kDataLoss);
}

TEST_CASE("flight log batches: round trip; messages, data and a step's entries are bounded", "[hub]") {
  std::vector<v1::FlightLogEntry> in = {Entry(1, "weight", "weights: a 80%", "{\"a\":8000}"), Entry(2, "wait", "w")};
  auto b = EncodeBatch(in);
  CHECK((b.truncated == 0 && b.dropped == 0));
  auto back = DecodeBatch(b.value);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].SerializeAsString() == in[0].SerializeAsString());

  // A message near any limit is cut (not inside a UTF-8 sequence); big data is dropped, said so.
  std::string long_message;
  while (long_message.size() < 100'000) long_message += "é";
  auto cut = EncodeBatch({Entry(1, "log", long_message), Entry(2, "gate", "numbers", std::string(9000, '1'))});
  CHECK(cut.truncated == 2);
  auto cb = DecodeBatch(cut.value);
  REQUIRE(cb.ok());
  CHECK((*cb)[0].message().size() <= kMaxLogMessageBytes);
  CHECK((*cb)[0].message().find("[cut]") != std::string::npos);
  CHECK(nlohmann::json::parse((*cb)[0].message(), nullptr, false).is_discarded());  // (just text)
  CHECK((*cb)[1].data_json().empty());
  CHECK((*cb)[1].message() == "numbers [data of 9000 bytes dropped]");

  // Many entries in one step: the batch stays bounded and ends with a note of how many were left out.
  std::vector<v1::FlightLogEntry> many(200, Entry(5, "step", std::string(1000, 'x')));
  auto m = EncodeBatch(many);
  CHECK(m.value.size() <= kMaxLogBatchBytes);
  CHECK(m.dropped > 0);
  auto mb = DecodeBatch(m.value);
  REQUIRE(mb.ok());
  CHECK(mb->size() == many.size() - m.dropped + 1);
  CHECK(mb->back().message().find(std::to_string(m.dropped) + " more log entries") == 0);
}

TEST_CASE("PlanSave: one Txn compares the flight's revision; spec once; the step's batch; bounds", "[hub]") {
  FlightKeys k("/sky/");
  const std::map<std::pair<int64_t, std::string>, bool> none;
  auto fresh = PlanSave(k, Flight("f1", 10), {Entry(1, "start", "started")}, std::nullopt, none, "w", 7);
  REQUIRE(fresh.ok());
  const auto& t = fresh->txn;
  REQUIRE(t.compare_size() == 1);
  CHECK((t.compare(0).key() == k.State("f1") && t.compare(0).target() == etcdserverpb::Compare::MOD &&
         t.compare(0).mod_revision() == 0));
  REQUIRE(t.success_size() == 3);
  CHECK(t.success(0).request_put().key() == k.Spec("f1"));
  CHECK(t.success(1).request_put().key() == k.LogBatch("f1", 0));
  CHECK(t.success(2).request_put().key() == k.State("f1"));
  REQUIRE(t.failure_size() == 1);
  CHECK(t.failure(0).request_range().key() == k.State("f1"));
  CHECK((fresh->record.log_first == 0 && fresh->record.log_next == 1 && fresh->record.write == 7));

  // Known flight: no spec, compared at its revision; no entries, no batch.
  KnownFlight known{fresh->record, 55, 10};
  auto again = PlanSave(k, Flight("f1", 10, "{\"step\":2}"), {}, known, none, "w", 8);
  REQUIRE(again.ok());
  CHECK(again->txn.compare(0).mod_revision() == 55);
  REQUIRE(again->txn.success_size() == 1);
  CHECK(DecodeRecord(again->txn.success(0).request_put().value())->state_json == "{\"step\":2}");

  // The oldest batch goes when a flight holds kMaxLogBatches.
  known.record.log_first = 5;
  known.record.log_next = 5 + kMaxLogBatches;
  auto full = PlanSave(k, Flight("f1", 10), {Entry(1, "gate", "look")}, known, none, "w", 9);
  REQUIRE(full.ok());
  CHECK(full->batches_dropped == 1);
  const auto& del = full->txn.success(1).request_delete_range();
  CHECK((del.key() == k.LogBatch("f1", 5) && del.range_end() == k.LogBatch("f1", 6)));
  CHECK((full->record.log_first == 6 && full->record.log_next == 6 + kMaxLogBatches));

  // Finishing one more than the bound prunes the oldest finished flight (meta and log).
  known.record.log_first = 0;
  known.record.log_next = 1;
  std::map<std::pair<int64_t, std::string>, bool> finished;
  for (size_t i = 0; i < kMaxFinishedFlights; ++i) finished[{int64_t(i), "old" + std::to_string(i)}] = true;
  auto ends = PlanSave(k, Flight("f1", 5000, "{}", true), {Entry(9, "end", "done")}, known, finished, "w", 10);
  REQUIRE(ends.ok());
  CHECK(ends->pruned == std::vector<std::string>{"old0"});
  int deletes = 0;
  for (const auto& op : ends->txn.success()) deletes += op.has_request_delete_range() ? 1 : 0;
  CHECK(deletes == 2);
  // Re-saving a flight already finished prunes nothing.
  known.record.finished = true;
  CHECK(PlanSave(k, Flight("f1", 5000, "{}", true), {}, known, finished, "w", 11)->pruned.empty());

  // A spec near etcd's limit fits; one over it is refused, nothing to write.
  StoredFlight big = Flight("f2", 1);
  big.spec_json = std::string(1 << 20, 's');
  CHECK(PlanSave(k, big, {}, std::nullopt, none, "w", 1).ok());
  big.spec_json = std::string(kEtcdMaxRequestBytes, 's');
  auto over = PlanSave(k, big, {}, std::nullopt, none, "w", 1);
  CHECK(over.status().code() == Code::kResourceExhausted);
  CHECK(over.status().message().find("nothing was written") != std::string::npos);
  CHECK(PlanSave(k, Flight("a/b", 1), {}, std::nullopt, none, "w", 1).status().code() == Code::kInvalidArgument);
}

TEST_CASE("paging: one snapshot revision, next key after the last", "[hub]") {
  auto r = PageRequest("a", "b", 32, 0);
  CHECK((r.key() == "a" && r.range_end() == "b" && r.limit() == 32 && r.revision() == 0));
  etcdserverpb::RangeResponse page;
  page.add_kvs()->set_key("a/1");
  CHECK_FALSE(NextPageKey(page).has_value());
  page.set_more(true);
  CHECK(NextPageKey(page) == std::string("a/1\0", 4));
}

TEST_CASE("EtcdFlightStore: saves, loads and the timeline in pages, across two leaders", "[hub]") {
  FakeEtcd etcd;
  EtcdFlightStore a(etcd.Bind(), Opts());
  for (int i = 0; i < 40; ++i) REQUIRE(a.Save(Flight("f" + std::to_string(i), 100 - i), {}).ok());
  for (int i = 0; i < 300; ++i)
    REQUIRE(a.Save(Flight("f0", 100, "{\"step\":" + std::to_string(i) + "}"), {Entry(i, "gate", "look")}).ok());

  EtcdFlightStore b(etcd.Bind(), Opts(nullptr, "hub-b"));  // the next leader
  auto all = b.LoadAll();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 40);  // over kMetaPageKeys keys: paged
  CHECK(all->front().id == "f39");  // oldest first
  CHECK(all->back().id == "f0");
  CHECK(all->back().state_json == "{\"step\":299}");
  auto log = b.Log("f0", kMaxLogReplyBytes);
  REQUIRE(log.ok());
  REQUIRE(log->entries.size() == 300);
  CHECK(log->older_left_out == 0);  // over kLogPageKeys batches: paged
  for (int i = 0; i < 300; ++i) CHECK(log->entries[i].unix_ms() == i);
  // The new leader continues the timeline after the old leader's entries.
  REQUIRE(b.Save(Flight("f0", 100, "{\"step\":300}"), {Entry(300, "weight", "60%")}).ok());
  log = b.Log("f0", kMaxLogReplyBytes);
  REQUIRE(log->entries.size() == 301);
  CHECK(log->entries.back().message() == "60%");
  CHECK(b.Log("a/b", kMaxLogReplyBytes).status().code() == Code::kInvalidArgument);

  // A small budget: the newest entries, newest pages read first, the rest counted.
  const size_t one = Entry(0, "gate", "look").ByteSizeLong() + 8;
  auto tail = b.Log("f0", 5 * one);
  REQUIRE(tail.ok());
  REQUIRE(tail->entries.size() >= 4);
  CHECK(tail->entries.back().message() == "60%");
  CHECK(tail->entries.front().unix_ms() == 301 - int64_t(tail->entries.size()));
  CHECK(tail->older_left_out == 301 - tail->entries.size());
}

TEST_CASE("EtcdFlightStore: a standby or deposed leader writes nothing", "[hub]") {
  FakeEtcd etcd;
  EtcdFlightStore a(etcd.Bind(), Opts());
  REQUIRE(a.Save(Flight("f", 1), {Entry(1, "start", "s")}).ok());
  const auto before = etcd.kvs;
  etcd.leading = false;  // the fence (Leadership::FencedTxn) refuses
  Status s = a.Save(Flight("f", 1, "{\"step\":2}"), {Entry(2, "weight", "w")});
  CHECK(s.code() == Code::kFailedPrecondition);
  CHECK(etcd.kvs.size() == before.size());
  CHECK(a.MetricsText().find("skyport_hub_flight_store_fenced_out_total 1") != std::string::npos);
}

TEST_CASE("EtcdFlightStore: a lost answer is read back; a step is never written twice", "[hub]") {
  FakeEtcd etcd;
  std::string conflict;
  EtcdFlightStore a(etcd.Bind(), Opts(&conflict));
  REQUIRE(a.Save(Flight("f", 1), {Entry(1, "start", "s")}).ok());

  SECTION("applied: OK, once") {
    etcd.fault = FakeEtcd::Fault::kLoseAnswerApplied;
    REQUIRE(a.Save(Flight("f", 1, "{\"step\":2}"), {Entry(2, "weight", "w")}).ok());
    REQUIRE(a.Save(Flight("f", 1, "{\"step\":3}"), {Entry(3, "wait", "w")}).ok());
    CHECK(a.Log("f", kMaxLogReplyBytes)->entries.size() == 3);
    CHECK(a.MetricsText().find("skyport_hub_flight_store_read_back_applied_total 1") != std::string::npos);
  }
  SECTION("not applied: not acknowledged; the retry writes the same batch key, no duplicate") {
    etcd.fault = FakeEtcd::Fault::kLoseAnswerNotApplied;
    Status s = a.Save(Flight("f", 1, "{\"step\":2}"), {Entry(2, "weight", "w")});
    CHECK(s.code() == Code::kUnavailable);
    CHECK(s.message().find("not applied") != std::string::npos);
    REQUIRE(a.Save(Flight("f", 1, "{\"step\":2}"), {Entry(3, "weight", "w")}).ok());
    CHECK(a.Log("f", kMaxLogReplyBytes)->entries.size() == 2);
    // The held write applied late cannot land over the newer one (its compare fails).
    auto late = etcd.Apply(etcd.held.at(0));
    CHECK_FALSE(late.succeeded());
    CHECK(a.Log("f", kMaxLogReplyBytes)->entries.back().unix_ms() == 3);
    CHECK(conflict.empty());
  }
  SECTION("read-back fails too: not acknowledged; if the write then lands late, the store stops") {
    etcd.fault = FakeEtcd::Fault::kLoseAnswerNotApplied;
    etcd.range_fails = true;
    CHECK(a.Save(Flight("f", 1, "{\"step\":2}"), {Entry(2, "weight", "w")}).code() == Code::kUnavailable);
    etcd.range_fails = false;
    REQUIRE(etcd.Apply(etcd.held.at(0)).succeeded());  // etcd applies it after all
    Status s = a.Save(Flight("f", 1, "{\"step\":2}"), {Entry(3, "weight", "w")});
    CHECK(s.code() == Code::kAborted);
    CHECK(conflict.find("answer was lost") != std::string::npos);
    CHECK(a.Save(Flight("f", 1, "{\"step\":3}"), {}).code() == Code::kAborted);  // every later write
    CHECK(a.Log("f", kMaxLogReplyBytes)->entries.size() == 2);  // what etcd holds: the landed step once
  }
  SECTION("another writer moved the flight: conflict, nothing overwritten") {
    EtcdFlightStore other(etcd.Bind(), Opts(nullptr, "hub-b"));
    REQUIRE(other.LoadAll().ok());
    REQUIRE(other.Save(Flight("f", 1, "{\"by\":\"b\"}"), {}).ok());
    CHECK(a.Save(Flight("f", 1, "{\"by\":\"a\"}"), {}).code() == Code::kAborted);
    CHECK(conflict.find("writer hub-b") != std::string::npos);
    CHECK(DecodeRecord(etcd.kvs.at(FlightKeys("/sky/").State("f")).value)->state_json == "{\"by\":\"b\"}");
  }
}

TEST_CASE("EtcdFlightStore: bounds bite with counters; an oversized step writes nothing", "[hub]") {
  FakeEtcd etcd;
  EtcdFlightStore a(etcd.Bind(), Opts());
  const FlightKeys k("/sky/");
  for (uint64_t i = 0; i < kMaxLogBatches + 3; ++i) REQUIRE(a.Save(Flight("f", 1), {Entry(int64_t(i), "gate", "l")}).ok());
  CHECK(etcd.Count(k.LogPrefix("f")) == kMaxLogBatches);
  CHECK(a.Log("f", kMaxLogReplyBytes)->entries.front().unix_ms() == 3);
  CHECK(a.MetricsText().find("skyport_hub_flight_store_log_batches_deleted_total 3") != std::string::npos);

  for (size_t i = 0; i < kMaxFinishedFlights + 2; ++i)
    REQUIRE(a.Save(Flight("done" + std::to_string(i), int64_t(10 + i), "{}", true), {}).ok());
  CHECK(etcd.Count(k.MetaPrefix()) == 2 * (kMaxFinishedFlights + 1));  // + the running "f"
  CHECK(etcd.Count(k.FlightMeta("done0")) == 0);
  CHECK(etcd.Count(k.FlightMeta("done1")) == 0);
  CHECK(a.MetricsText().find("skyport_hub_flight_store_flights_pruned_total 2") != std::string::npos);

  const auto before = etcd.txns;
  StoredFlight big = Flight("huge", 1);
  big.spec_json = std::string(kEtcdMaxRequestBytes, 's');
  CHECK(a.Save(big, {}).code() == Code::kResourceExhausted);
  CHECK(etcd.txns == before);  // refused before etcd
  CHECK(etcd.Count(k.FlightMeta("huge")) == 0);
}

}  // namespace
}  // namespace skyport::hub
