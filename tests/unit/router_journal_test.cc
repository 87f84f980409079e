#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "router/journal.h"
#include "router/journal_format.h"
#include "router/ship_batch.h"
#include "test_util.h"

namespace skyport::router {
namespace {

using skyport::testing::Slurp;
using skyport::testing::TempDir;

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kHour0 = 1'699'999'200;
const std::string kAlice = "0123456789abcdef0123456789abcdef";

JournaledPost Post(std::string_view body, std::string_view user = kAlice, bool trusted = false) {
  return JournaledPost{kNow, trusted, "shop", "f1", "c1", user, body};
}

std::string Frame(const JournaledPost& p) {
  std::string out;
  EncodePostHead(p, out);
  return out + std::string(p.body);
}

// (event, user) -> (count, sum) of a drained aggregator.
std::map<std::pair<std::string, std::string>, std::pair<uint64_t, double>> Totals(EventAggregator& agg) {
  std::vector<UserEventRow> rows;
  agg.Drain(rows);
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, double>> out;
  for (const auto& r : rows) {
    CHECK(r.app == "shop");
    CHECK(r.flight == "f1");
    CHECK(r.arm == "c1");
    auto& t = out[{r.event, r.user}];
    t.first += r.count;
    t.second += r.sum;
  }
  return out;
}

std::map<std::pair<std::string, std::string>, std::pair<uint64_t, double>> Totals(const v1::ShipStatsRequest& req) {
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, double>> out;
  for (const auto& r : req.rows()) {
    auto& t = out[{r.event(), r.user()}];
    t.first += r.count();
    t.second += r.sum();
  }
  return out;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/journal")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------- the record format

TEST_CASE("journal format: posts come back as the router aggregated them", "[router][journal]") {
  const std::string batch = R"([{"event":"buy","value":10},{"event":"buy","value":5,"time":1699999000}])";
  const std::string named = R"({"event":"refund","value":3,"user":"bob"})";
  std::string file = Frame(Post(batch)) + Frame(Post(named, "", /*trusted=*/true));
  EventAggregator agg;
  ReplayStats st = ReplayJournal(file, agg);
  CHECK(st.posts == 2);
  CHECK(st.events == 3);
  CHECK_FALSE(st.torn);
  CHECK(st.valid_bytes == file.size());
  std::vector<UserEventRow> rows;
  agg.Drain(rows);
  std::map<std::tuple<std::string, std::string, int64_t>, uint64_t> counts;
  for (const auto& r : rows) counts[{r.event, r.user, r.hour_unix_s}] += r.count;
  // "time" rounds into its own hour; no time means the post's `now`.
  CHECK(counts == std::map<std::tuple<std::string, std::string, int64_t>, uint64_t>{
                      {{"buy", kAlice, kHour0}, 1}, {{"buy", kAlice, kHour0 - 3600}, 1}, {{"refund", "bob", kHour0}, 1}});
}

TEST_CASE("journal format: events the answer called dropped are not recovered", "[router][journal]") {
  const std::string body = R"([{"event":"a"},{"event":"b"},{"event":"c"}])";
  std::string drops;
  const uint32_t idx[] = {0, 2};
  EncodeDrops(idx, drops);
  EventAggregator agg;
  ReplayStats st = ReplayJournal(Frame(Post(body)) + drops + Frame(Post(body)), agg);
  CHECK(st.events == 4);
  CHECK(st.dropped == 2);
  auto t = Totals(agg);
  CHECK(t[{"a", kAlice}].first == 1);
  CHECK(t[{"b", kAlice}].first == 2);
  CHECK(t[{"c", kAlice}].first == 1);
}

TEST_CASE("journal format: exposure records come back as exposure rows, once per user and hour", "[router][journal]") {
  std::string alice, alice_again, bob, drops;
  EncodeExposure({kNow, "shop", "f1", "c1", kAlice}, alice);
  EncodeExposure({kNow + 5, "shop", "f1", "c1", kAlice}, alice_again);  // a second worker's twin
  EncodeExposure({kNow, "shop", "f1", "c1", "bob"}, bob);
  const uint32_t idx[] = {0};
  EncodeDrops(idx, drops);
  // An exposure between a post and its drops record leaves the drops to that post.
  const std::string body = R"([{"event":"a"},{"event":"b"}])";
  EventAggregator agg;
  ReplayStats st = ReplayJournal(alice + Frame(Post(body)) + bob + drops + alice_again, agg);
  CHECK(st.exposures == 3);
  CHECK(st.events == 1);
  CHECK(st.dropped == 1);
  CHECK_FALSE(st.torn);
  auto t = Totals(agg);
  CHECK(t[{"$exposure", kAlice}] == std::pair<uint64_t, double>{1, 0.0});
  CHECK(t[{"$exposure", "bob"}] == std::pair<uint64_t, double>{1, 0.0});
  CHECK(t[{"b", kAlice}].first == 1);
  CHECK(t.count({"a", kAlice}) == 0);
}

TEST_CASE("aggregator: AddExposure says which exposures are new (the ones to journal)", "[router][journal]") {
  EventAggregator agg;
  bool is_new = false;
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kNow, &is_new));
  CHECK(is_new);
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kNow + 1, &is_new));
  CHECK_FALSE(is_new);
  std::vector<UserEventRow> rows;
  agg.Drain(rows);
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kNow + 2, &is_new));
  CHECK_FALSE(is_new);  // remembered across the drain
  CHECK(agg.AddExposure("shop", "f1", "c1", kAlice, kNow + 3600, &is_new));
  CHECK(is_new);  // a new hour
  CHECK(agg.AddExposure("shop", "f1", "c2", kAlice, kNow + 3600, &is_new));
  CHECK(is_new);  // another arm
  CHECK_FALSE(agg.AddExposure("shop", "f1", "c2", "", kNow, &is_new));
  CHECK_FALSE(is_new);
}

TEST_CASE("journal: exposures journaled before a kill are in the recovered batch", "[router][journal]") {
  TempDir dir;
  uint64_t seg = 0;
  {
    auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
    REQUIRE(j.ok());
    auto w0 = (*j)->NewWriter();
    auto w1 = (*j)->NewWriter();
    seg = (*j)->segment();
    REQUIRE(w0->AppendExposure({kNow, "shop", "f1", "c1", kAlice}).ok());
    REQUIRE(w1->AppendExposure({kNow, "shop", "f1", "c1", kAlice}).ok());  // both workers served alice
    REQUIRE(w1->AppendExposure({kNow, "shop", "f1", "c1", "bob"}).ok());
    CHECK((*j)->reserved_bytes() > 0);  // the rows they add are reserved like a post's
  }
  auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
  REQUIRE(j.ok());
  auto left = (*j)->Recover();
  REQUIRE(left.size() == 1);
  CHECK(left[0].segment == seg);
  CHECK(left[0].rows == 2);
  auto batch = (*j)->Load(left[0]);
  REQUIRE(batch.ok());
  auto t = Totals(*batch);
  CHECK(t[{"$exposure", kAlice}] == std::pair<uint64_t, double>{1, 0.0});  // the twins merged: counted once
  CHECK(t[{"$exposure", "bob"}] == std::pair<uint64_t, double>{1, 0.0});
}

TEST_CASE("journal format: a torn or garbled tail ends the file; whole frames before it count", "[router][journal]") {
  std::vector<std::string> frames;
  for (int i = 0; i < 5; ++i) frames.push_back(Frame(Post(R"({"event":"e","value":)" + std::to_string(i + 1) + "}")));
  std::string file;
  std::vector<size_t> ends;
  for (const auto& f : frames) {
    file += f;
    ends.push_back(file.size());
  }
  // Cut at every length: exactly the frames that end before the cut come back.
  for (size_t cut = 0; cut <= file.size(); ++cut) {
    EventAggregator agg;
    ReplayStats st = ReplayJournal(std::string_view(file).substr(0, cut), agg);
    const auto whole = static_cast<uint64_t>(std::count_if(ends.begin(), ends.end(), [&](size_t e) { return e <= cut; }));
    REQUIRE(st.events == whole);
    CHECK(st.torn == (st.valid_bytes < cut));
    double sum = 0;
    for (uint64_t i = 0; i < whole; ++i) sum += static_cast<double>(i + 1);
    CHECK(Totals(agg)[{"e", kAlice}].second == sum);
  }
  // A changed byte in the third frame's body: the first two count.
  std::string garbled = file;
  garbled[ends[1] + frames[2].size() - 3] ^= 0x20;
  EventAggregator agg;
  ReplayStats st = ReplayJournal(garbled, agg);
  CHECK(st.events == 2);
  CHECK(st.torn);
  CHECK(st.valid_bytes == ends[1]);
}

// ---------------------------------------------------------------- the journal

v1::ShipStatsRequest Exposure(const std::string& user) {
  v1::ShipStatsRequest req;
  auto* r = req.add_rows();
  r->set_app("shop");
  r->set_flight("f1");
  r->set_arm("c1");
  r->set_event("$exposure");
  r->set_user(user);
  r->set_hour_unix_s(kHour0);
  r->set_count(1);
  return req;
}

TEST_CASE("journal: the router id is kept, every start is a new epoch, one router per dir", "[router][journal]") {
  TempDir dir;
  std::string id;
  uint64_t first_segment = 0;
  {
    auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
    REQUIRE(j.ok());
    id = (*j)->router_id();
    CHECK(id.rfind("r1/", 0) == 0);
    CHECK(id.size() == 3 + 12);
    first_segment = (*j)->segment();
    auto again = EventJournal::Open(dir.path(), "r1", 1 << 20);
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().code() == Code::kFailedPrecondition);
  }
  auto j = EventJournal::Open(dir.path(), "renamed", 1 << 20);
  REQUIRE(j.ok());
  CHECK((*j)->router_id() == id);
  CHECK((*j)->segment() == first_segment + (uint64_t{1} << 30));
  CHECK(Slurp(dir.path() + "/epoch") == "2\n");
}

TEST_CASE("journal: a segment is sealed when every writer handed in its part", "[router][journal]") {
  TempDir dir;
  auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
  REQUIRE(j.ok());
  EventJournal& journal = **j;
  auto w0 = journal.NewWriter();
  auto w1 = journal.NewWriter();
  const uint64_t seg = journal.segment();
  REQUIRE(w0->AppendPost(Post(R"({"event":"buy","value":2})")).ok());
  REQUIRE(w1->AppendPost(Post(R"({"event":"buy","value":3})")).ok());
  CHECK(journal.bytes() > 0);
  journal.MaybeAdvance(5000);  // the first look starts the clock
  CHECK_FALSE(w0->Behind());
  journal.MaybeAdvance(5999);
  CHECK_FALSE(w0->Behind());
  // Not behind: rows are kept for the segment, nothing is sealed.
  CHECK(w0->Seal(Exposure("early")).empty());
  journal.MaybeAdvance(6000);
  CHECK(journal.segment() == seg + 1);
  REQUIRE(w0->Behind());

  v1::ShipStatsRequest part0 = Exposure("u0");
  part0.add_rows()->CopyFrom(part0.rows(0));
  part0.mutable_rows(1)->set_event("buy");
  part0.mutable_rows(1)->set_user(kAlice);
  part0.mutable_rows(1)->set_sum(2);
  CHECK(w0->Seal(std::move(part0)).empty());  // w1 has not sealed yet
  CHECK_FALSE(w0->Behind());
  auto sealed = w1->Seal(Exposure("u1"));
  REQUIRE(sealed.size() == 1);
  const SealedSegment& s = sealed[0];
  CHECK(s.segment == seg);
  CHECK(s.rows == 4);
  CHECK_FALSE(s.path.empty());
  // The logs are gone; the batch is what is left.
  CHECK(Files(dir.path()) == std::vector<std::string>{fmt::format("{:016x}.batch", seg)});
  auto batch = journal.Load(s);
  REQUIRE(batch.ok());
  CHECK(batch->router() == journal.router_id());
  CHECK(batch->batch_id() == BatchId(seg, 0));
  auto t = Totals(*batch);
  CHECK(t[{"$exposure", "early"}].first == 1);
  CHECK(t[{"$exposure", "u0"}].first == 1);
  CHECK(t[{"$exposure", "u1"}].first == 1);
  CHECK(t[{"buy", kAlice}].second == 2);

  journal.Remove(s);
  CHECK(Files(dir.path()).empty());
  CHECK(journal.bytes() == 0);

  // A segment with nothing in it is not written at all; Close seals the last one.
  journal.MaybeAdvance(7000);
  CHECK(w0->Seal(v1::ShipStatsRequest{}).empty());
  CHECK(w1->Seal(v1::ShipStatsRequest{}).empty());
  REQUIRE(w0->AppendPost(Post(R"({"event":"x"})")).ok());
  CHECK(w0->Close(v1::ShipStatsRequest{}).empty());
  journal.MaybeAdvance(9000);  // closed: no more segments
  CHECK(journal.segment() == seg + 2);
  auto last = w1->Close(Exposure("u9"));
  REQUIRE(last.size() == 1);
  CHECK(last[0].segment == seg + 2);
  CHECK(last[0].rows == 1);  // the post's event was never aggregated (rows are what the workers hand in)
}

TEST_CASE("journal: after a kill the logs of an unsealed segment become its batch, once", "[router][journal]") {
  TempDir dir;
  uint64_t seg = 0;
  {
    auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
    REQUIRE(j.ok());
    auto w0 = (*j)->NewWriter();
    auto w1 = (*j)->NewWriter();
    seg = (*j)->segment();
    REQUIRE(w0->AppendPost(Post(R"([{"event":"buy","value":1},{"event":"buy","value":2}])")).ok());
    REQUIRE(w1->AppendPost(Post(R"({"event":"buy","value":4})")).ok());
    REQUIRE(w1->AppendPost(Post(R"({"event":"view"})")).ok());
    const uint32_t dropped[] = {0};
    REQUIRE(w1->AppendDrops(dropped).ok());  // "view" was answered as dropped
    // ... and the process dies: no seal.
  }
  // Half a frame at the end of a log (killed in the middle of a write).
  {
    std::ofstream log(dir.path() + fmt::format("/journal/{:016x}-w0.log", seg), std::ios::app | std::ios::binary);
    log << Frame(Post(R"({"event":"buy","value":100})")).substr(0, 20);
  }
  SealedSegment recovered;
  {
    auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
    REQUIRE(j.ok());
    auto left = (*j)->Recover();
    REQUIRE(left.size() == 1);
    recovered = left[0];
    CHECK(recovered.segment == seg);  // the old epoch's id: the hub knows it if it was sent
    CHECK(recovered.rows == 1);
    CHECK(Files(dir.path()) == std::vector<std::string>{fmt::format("{:016x}.batch", seg)});
    auto batch = (*j)->Load(recovered);
    REQUIRE(batch.ok());
    auto t = Totals(*batch);
    CHECK(t.size() == 1);
    CHECK(t[{"buy", kAlice}] == std::pair<uint64_t, double>{3, 7.0});
    CHECK((*j)->segment() > seg);  // new segments sort after the recovered ones
    CHECK((*j)->bytes() == recovered.bytes);  // counted once
  }
  // Killed again before the hub had it: the same batch, the same id.
  auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
  REQUIRE(j.ok());
  auto left = (*j)->Recover();
  REQUIRE(left.size() == 1);
  CHECK(left[0].segment == seg);
  CHECK(left[0].rows == 1);
  CHECK((*j)->bytes() == left[0].bytes);
  (*j)->Remove(left[0]);
  CHECK((*j)->bytes() == 0);
  CHECK(Files(dir.path()).empty());
}

TEST_CASE("journal: replay after a kill is bounded like the live aggregator, per worker log", "[router][journal]") {
  // A flood of distinct users in one worker's log of an unsealed segment: the
  // live aggregator held at most AggregatorLimits::max_keys keys of it (the
  // rest answered as dropped), so the replay must not hold more either.
  const size_t max_keys = AggregatorLimits{}.max_keys;
  TempDir dir;
  {
    auto j = EventJournal::Open(dir.path(), "r1", uint64_t{1} << 30);
    REQUIRE(j.ok());
    auto w = (*j)->NewWriter();
    size_t user = 0;
    while (user < max_keys + 2000) {
      std::string body = "[";
      for (int i = 0; i < 1000; ++i, ++user) body += fmt::format(R"({}{{"event":"buy","user":"u{}"}})", i ? "," : "", user);
      body += "]";
      REQUIRE(w->AppendPost(Post(body, "", /*trusted=*/true)).ok());
    }
    // ... killed: no seal.
  }
  auto j = EventJournal::Open(dir.path(), "r1", uint64_t{1} << 30);
  REQUIRE(j.ok());
  auto left = (*j)->Recover();
  REQUIRE(left.size() == 1);
  CHECK(left[0].rows == max_keys);
}

TEST_CASE("journal: logs left beside their segment's batch are not counted again", "[router][journal]") {
  TempDir dir;
  uint64_t seg = 0;
  {
    auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
    REQUIRE(j.ok());
    auto w = (*j)->NewWriter();
    seg = (*j)->segment();
    REQUIRE(w->AppendPost(Post(R"({"event":"buy","value":1})")).ok());
    v1::ShipStatsRequest rows = Exposure("u0");
    auto sealed = w->Close(std::move(rows));
    REQUIRE(sealed.size() == 1);
  }
  // As if killed between writing the batch and deleting the logs.
  {
    std::ofstream log(dir.path() + fmt::format("/journal/{:016x}-w0.log", seg), std::ios::binary);
    log << Frame(Post(R"({"event":"buy","value":1})"));
    std::ofstream tmp(dir.path() + fmt::format("/journal/{:016x}.batch.tmp", seg + 1), std::ios::binary);
    tmp << "half";
  }
  auto j = EventJournal::Open(dir.path(), "r1", 1 << 20);
  REQUIRE(j.ok());
  auto left = (*j)->Recover();
  REQUIRE(left.size() == 1);
  auto batch = (*j)->Load(left[0]);
  REQUIRE(batch.ok());
  CHECK(Totals(*batch)[{"$exposure", "u0"}].first == 1);
  CHECK(Files(dir.path()) == std::vector<std::string>{fmt::format("{:016x}.batch", seg)});
}

TEST_CASE("journal: posts are refused once the logs would pass the size", "[router][journal]") {
  TempDir dir;
  auto j = EventJournal::Open(dir.path(), "r1", 300);
  REQUIRE(j.ok());
  auto w = (*j)->NewWriter();
  const std::string body = R"({"event":"buy","value":1})";
  int taken = 0;
  Status last;
  for (int i = 0; i < 10 && last.ok(); ++i) {
    last = w->AppendPost(Post(body));
    if (last.ok()) ++taken;
  }
  CHECK(taken >= 1);
  CHECK(taken < 10);
  CHECK(last.code() == Code::kResourceExhausted);
  CHECK((*j)->bytes() <= 300);
  // What was refused is not in the log: a replay sees only what was taken.
  EventAggregator agg;
  auto file = Slurp(dir.path() + fmt::format("/journal/{:016x}-w0.log", (*j)->segment()));
  CHECK(ReplayJournal(file, agg).events == static_cast<uint64_t>(taken));
}

TEST_CASE("journal: unshipped batches count too: posts are refused, acknowledged data is kept", "[router][journal]") {
  TempDir dir;
  auto j = EventJournal::Open(dir.path(), "r1", 400);
  REQUIRE(j.ok());
  EventJournal& journal = **j;
  auto w = journal.NewWriter();
  REQUIRE(w->AppendPost(Post(R"({"event":"buy","value":1})")).ok());
  journal.MaybeAdvance(1000);
  journal.MaybeAdvance(2000);
  REQUIRE(w->Behind());
  v1::ShipStatsRequest rows;
  for (int i = 0; i < 6; ++i) rows.MergeFrom(Exposure(fmt::format("user-{}", i)));
  auto sealed = w->Seal(std::move(rows));  // the hub is away: the batch waits on disk
  REQUIRE(sealed.size() == 1);
  CHECK(sealed[0].bytes > 0);
  const uint64_t held = journal.bytes();
  CHECK(held == sealed[0].bytes);
  // The logs are empty now, but the batch fills the budget: no new post is taken.
  Status last;
  int taken = 0;
  for (int i = 0; i < 20 && last.ok(); ++i) {
    last = w->AppendPost(Post(R"({"event":"buy","value":1})"));
    if (last.ok()) ++taken;
  }
  CHECK(last.code() == Code::kResourceExhausted);
  CHECK(journal.bytes() <= 400);
  CHECK(taken < 20);
  CHECK(journal.hard_max_bytes() == 800);
  // Shipped (removed), the room is back.
  journal.Remove(sealed[0]);
  CHECK(w->AppendPost(Post(R"({"event":"buy","value":1})")).ok());
}

TEST_CASE("journal: a post reserves room for the rows it adds until its batch is written", "[router][journal]") {
  TempDir dir;
  auto j = EventJournal::Open(dir.path(), "r1", 1000);
  REQUIRE(j.ok());
  EventJournal& journal = **j;
  auto w = journal.NewWriter();
  const std::string body = R"({"event":"buy","value":1})";
  REQUIRE(w->AppendPost(Post(body), 600).ok());
  CHECK(journal.reserved_bytes() == 600);
  CHECK(w->AppendPost(Post(body), 600).code() == Code::kResourceExhausted);  // its rows would not fit
  REQUIRE(w->AppendPost(Post(body), 100).ok());
  CHECK(journal.reserved_bytes() == 700);
  // The segment's batch written, the reservation ends; the batch's real size counts instead.
  journal.MaybeAdvance(1000);
  journal.MaybeAdvance(2000);
  auto sealed = w->Seal(Exposure("u1"));
  REQUIRE(sealed.size() == 1);
  CHECK(journal.reserved_bytes() == 0);
  CHECK(journal.bytes() == sealed[0].bytes);
  CHECK(EventJournal::RowBytesEstimate(4, 0, 40, 3, 32) == 127);
}

}  // namespace
}  // namespace skyport::router

namespace skyport::router {
namespace {

TEST_CASE("journal: a refused batch is quarantined with its reason, within a quarter of the budget", "[router][journal]") {
  TempDir dir;
  v1::ShipStatsRequest batch;
  batch.set_router("r1/0123456789ab");
  batch.set_batch_id(0x4000000100000401);
  for (int i = 0; i < 20; ++i) {
    auto* r = batch.add_rows();
    r->set_app("shop");
    r->set_arm("$by-exposure");
    r->set_event("buy");
    r->set_user(fmt::format("user-{}", i));
    r->set_count(1);
  }
  uint64_t one = 0;
  {
    auto j = EventJournal::Open(dir.path(), "r1", 16 * 1024);  // a quarter: 4 KiB
    REQUIRE(j.ok());
    auto path = (*j)->Quarantine(batch, "rows[0].hour_unix_s: must start a UTC hour");
    REQUIRE(path.ok());
    CHECK(*path == dir.path() + "/quarantine/4000000100000401.batch");
    v1::ShipStatsRequest back;
    CHECK(back.ParseFromString(Slurp(*path)));
    CHECK(back.rows_size() == 20);
    const std::string reason = Slurp(dir.path() + "/quarantine/4000000100000401.txt");
    CHECK(reason.find("refused: rows[0].hour_unix_s: must start a UTC hour") != std::string::npos);
    CHECK(reason.find("batch_id 4611686022722356225") != std::string::npos);
    one = (*j)->quarantine_bytes();
    CHECK(one > 0);
    CHECK((*j)->bytes() == one);  // the data dir's budget counts it
    CHECK((*j)->Quarantine(batch, "again").ok());  // the same batch sent again after a restart: kept once
    CHECK((*j)->quarantine_bytes() == one);
    // Further refused batches until the quarter is used up; then refused, nothing written.
    int kept = 1;
    Status last = Status::Ok();
    for (uint64_t id = 1; id < 100 && last.ok(); ++id) {
      batch.set_batch_id(id);
      auto r = (*j)->Quarantine(batch, "why");
      last = r.status();
      kept += r.ok();
    }
    CHECK(last.code() == Code::kResourceExhausted);
    CHECK((*j)->quarantine_bytes() <= (*j)->quarantine_max_bytes());
    CHECK(kept * one > (*j)->quarantine_max_bytes() - one);
  }
  // A restart counts what is there.
  auto j = EventJournal::Open(dir.path(), "r1", 16 * 1024);
  REQUIRE(j.ok());
  CHECK((*j)->quarantine_bytes() > (*j)->quarantine_max_bytes() - one);
  CHECK((*j)->bytes() == (*j)->quarantine_bytes());
}

}  // namespace
}  // namespace skyport::router
