// The bounds every flight store and the tower share (pure), and the SQLite
// store applying them in the transaction of the save (temp dir, small bounds).
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "hub/flights/flight_bounds.h"
#include "hub/flights/sqlite_flight_store.h"
#include "tests/unit/test_util.h"

namespace skyport::hub {
namespace {

constexpr size_t kAll = std::numeric_limits<size_t>::max();

v1::FlightLogEntry Entry(int64_t ms, const std::string& message = "look", std::string data = "") {
  v1::FlightLogEntry e;
  e.set_unix_ms(ms);
  e.set_step("2");
  e.set_kind("gate");
  e.set_message(message);
  e.set_data_json(std::move(data));
  return e;
}

StoredFlight Flight(const std::string& id, int64_t created, bool finished = false) {
  return {id, "checkout", "webapp", "{\"name\":\"checkout\"}", "{\"step\":1}", finished, created};
}

bool Has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST_CASE("FirstStepKept: a flight keeps its last max steps", "[hub]") {
  struct Row {
    uint64_t first, next, max, want;
  };
  for (const Row& r : std::vector<Row>{{0, 1, 3, 0}, {0, 3, 3, 0}, {0, 4, 3, 1}, {5, 20, 3, 17}, {7, 7, 3, 7},
                                       {0, kMaxLogBatches + 1, kMaxLogBatches, 1}}) {
    INFO(r.first << " " << r.next << " " << r.max);
    CHECK(FirstStepKept(r.first, r.next, r.max) == r.want);
  }
}

TEST_CASE("FinishedToForget: the oldest finished beyond the bound, never the one finishing", "[hub]") {
  FinishedFlights done;
  for (int i = 0; i < 3; ++i) done[{100 + i, "d" + std::to_string(i)}] = true;
  CHECK(FinishedToForget(done, "x", /*newly_finished=*/false, 2, kAll).empty());  // only a finish prunes
  CHECK(FinishedToForget(done, "x", true, 4, kAll).empty());                      // 4 held: at the bound
  CHECK(FinishedToForget(done, "x", true, 2, kAll) == std::vector<std::string>{"d0", "d1"});
  CHECK(FinishedToForget(done, "x", true, 2, 1) == std::vector<std::string>{"d0"});  // at most max_at_once
  // The flight finishing is the oldest (a long flight): the others go, not it.
  CHECK(FinishedToForget(done, "old", true, 1, kAll) == std::vector<std::string>{"d0", "d1", "d2"});
  // Already in the index (a save repeated): counted once.
  CHECK(FinishedToForget(done, "d2", true, 2, kAll) == std::vector<std::string>{"d0"});
}

TEST_CASE("LogTail: the newest entries within the budget, oldest first; the older ones counted", "[hub]") {
  const size_t one = Entry(1).ByteSizeLong() + 8;  // every unix_ms here is one varint byte
  LogTail tail(3 * one);
  for (int64_t ms = 9; ms >= 0; --ms) tail.Add(Entry(ms));  // newest first
  CHECK(tail.full());
  CHECK(tail.left_out() == 7);
  auto kept = tail.Take();
  REQUIRE(kept.size() == 3);
  CHECK((kept[0].unix_ms() == 7 && kept[2].unix_ms() == 9));

  LogTail roomy(kMaxLogReplyBytes);
  roomy.Add(Entry(1));
  CHECK_FALSE(roomy.full());
  CHECK(roomy.left_out() == 0);
  // One entry larger than the budget is left out, never half sent.
  LogTail tiny(10);
  tiny.Add(Entry(1, std::string(100, 'm')));
  CHECK(tiny.Take().empty());
  CHECK(tiny.left_out() == 1);
}

TEST_CASE("BoundStepLog: entries cut, a step's bytes bounded with a note", "[hub]") {
  auto cut = BoundStepLog({Entry(1, std::string(5000, 'm')), Entry(2, "numbers", std::string(9000, '1'))});
  REQUIRE(cut.entries.size() == 2);
  CHECK(cut.truncated == 2);
  CHECK(cut.entries[0].message().size() <= kMaxLogMessageBytes);
  CHECK(cut.entries[1].data_json().empty());
  std::vector<v1::FlightLogEntry> many(200, Entry(1, std::string(200, 'x')));
  auto b = BoundStepLog(many);
  CHECK(b.dropped > 0);
  CHECK(b.entries.size() == many.size() - b.dropped + 1);
  CHECK(Has(b.entries.back().message(), "more log entries of this step left out"));
}

TEST_CASE("SqliteFlightStore: a flight keeps its last steps; trimmed in the save's transaction", "[hub]") {
  skyport::testing::TempDir dir;
  const std::string db = dir.path() + "/flights.db";
  {
    auto store = SqliteFlightStore::Open(db, {/*log_steps=*/3, /*finished_flights=*/10});
    REQUIRE(store.ok());
    auto& s = **store;
    REQUIRE(s.Save(Flight("f", 1), {}).ok());  // a step without entries is not a step of the log
    for (int64_t step = 0; step < 5; ++step)
      REQUIRE(s.Save(Flight("f", 1), {Entry(step * 10), Entry(step * 10 + 1)}).ok());
    auto log = s.Log("f", kMaxLogReplyBytes);
    REQUIRE(log.ok());
    REQUIRE(log->entries.size() == 6);  // steps 2, 3, 4
    CHECK(log->entries.front().unix_ms() == 20);
    CHECK(log->entries.back().unix_ms() == 41);
    CHECK(log->older_left_out == 0);
    CHECK(Has(s.MetricsText(), "skyport_hub_flight_store_log_batches_deleted_total 2"));
    // An entry is cut as etcd cuts it.
    REQUIRE(s.Save(Flight("f", 1), {Entry(50, std::string(5000, 'm'))}).ok());
    CHECK(s.Log("f", kMaxLogReplyBytes)->entries.back().message().size() <= kMaxLogMessageBytes);
    CHECK(Has(s.MetricsText(), "skyport_hub_flight_store_entries_truncated_total 1"));
  }
  // Reopened: the steps continue where they were (no step number reused).
  auto again = SqliteFlightStore::Open(db, {3, 10});
  REQUIRE(again.ok());
  REQUIRE((*again)->Save(Flight("f", 1), {Entry(60)}).ok());
  auto log = (*again)->Log("f", kMaxLogReplyBytes);
  REQUIRE(log.ok());
  REQUIRE(log->entries.size() == 4);  // steps 4, 5 (the cut entry), 6
  CHECK(log->entries.front().unix_ms() == 40);
  CHECK(log->entries.back().unix_ms() == 60);
}

TEST_CASE("SqliteFlightStore: the oldest finished flights go; a running one never", "[hub]") {
  skyport::testing::TempDir dir;
  const std::string db = dir.path() + "/flights.db";
  auto store = SqliteFlightStore::Open(db, {/*log_steps=*/100, /*finished_flights=*/2});
  REQUIRE(store.ok());
  auto& s = **store;
  REQUIRE(s.Save(Flight("running", 1), {Entry(1)}).ok());  // the oldest of all, never finished
  for (int i = 0; i < 4; ++i) {
    REQUIRE(s.Save(Flight("d" + std::to_string(i), 10 + i), {Entry(10 + i)}).ok());
    REQUIRE(s.Save(Flight("d" + std::to_string(i), 10 + i, /*finished=*/true), {Entry(20 + i)}).ok());
  }
  auto all = s.LoadAll();
  REQUIRE(all.ok());
  std::vector<std::string> ids;
  for (const auto& f : *all) ids.push_back(f.id);
  CHECK(ids == std::vector<std::string>{"running", "d2", "d3"});
  CHECK(s.Log("d0", kMaxLogReplyBytes)->entries.empty());  // its timeline went with it
  CHECK(Has(s.MetricsText(), "skyport_hub_flight_store_flights_pruned_total 2"));
  // Reopened with the bound: the finished index is read back, the bound holds.
  store->reset();
  auto again = SqliteFlightStore::Open(db, {100, 2});
  REQUIRE(again.ok());
  REQUIRE((*again)->Save(Flight("d4", 30, true), {}).ok());
  all = (*again)->LoadAll();
  REQUIRE(all.ok());
  ids.clear();
  for (const auto& f : *all) ids.push_back(f.id);
  CHECK(ids == std::vector<std::string>{"running", "d3", "d4"});
}

TEST_CASE("SqliteFlightStore: Log returns the newest entries within the budget and counts the rest", "[hub]") {
  skyport::testing::TempDir dir;
  auto store = SqliteFlightStore::Open(dir.path() + "/flights.db");
  REQUIRE(store.ok());
  auto& s = **store;
  for (int64_t i = 0; i < 20; ++i) REQUIRE(s.Save(Flight("f", 1), {Entry(i)}).ok());
  const size_t one = Entry(1).ByteSizeLong() + 8;  // every unix_ms here is one varint byte
  auto log = s.Log("f", 5 * one);
  REQUIRE(log.ok());
  REQUIRE(log->entries.size() == 5);
  CHECK(log->entries.front().unix_ms() == 15);
  CHECK(log->entries.back().unix_ms() == 19);
  CHECK(log->older_left_out == 15);
}

}  // namespace
}  // namespace skyport::hub
