// The control tower's bounds, driven through its public calls with a fake
// cluster (every call succeeds at once) and a real SQLite store in a temp
// dir: at most max_active flights not finished, the newest max_finished
// finished ones remembered (as the store keeps them), a running flight never
// forgotten.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "hub/flights/sqlite_flight_store.h"
#include "hub/flights/tower.h"
#include "tests/unit/test_util.h"

namespace skyport::hub {
namespace {

class FakeTowerIo final : public TowerIo {
 public:
  Result<std::string> Resolve(const std::string&, const std::string& commitish) override {
    return std::string(40, commitish == "main" ? 'c' : 'f');
  }
  Status Ready() override { return Status::Ok(); }
  Status Deploy(const std::string&, const std::string&, uint32_t) override { return Status::Ok(); }
  Status Stop(const std::string&, const std::string&) override { return Status::Ok(); }
  Status WriteRoute(const std::string&, const RouteIntent&) override { return Status::Ok(); }
  Status CheckRoute(const std::string&, const RouteIntent&) override { return Status::Ok(); }
  PingResult Ping(const std::string&, const std::string&, const std::string&) override { return {200, ""}; }
  Result<GateVerdict> Gate(const std::string&, const std::string&, const GateSpec&, double, int64_t) override {
    return GateVerdict{};
  }
  std::map<std::string, uint64_t> Enrolled(const std::string&, const std::string&) override { return {}; }
};

std::string Spec(const std::string& name, const char* plan) {
  return nlohmann::json{{"name", name},
                        {"app", "app-" + name},
                        {"arms", {{"control", "main"}, {"treatment", "feature"}}},
                        {"control", "control"},
                        {"flightplan", nlohmann::json::parse(plan)}}
      .dump();
}
const char* kQuick = R"([{"action":"log","message":"hello"}])";
const char* kLong = R"([{"action":"wait","for":"1h"}])";

bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

std::set<std::string> Names(ControlTower& t) {
  std::set<std::string> out;
  for (const auto& s : t.List(/*all=*/true)) out.insert(s.name());
  return out;
}

TEST_CASE("ControlTower: flights not finished are bounded; finished ones forgotten as the store forgets", "[hub]") {
  skyport::testing::TempDir dir;
  auto store = SqliteFlightStore::Open(dir.path() + "/flights.db", {/*log_steps=*/100, /*finished_flights=*/2});
  REQUIRE(store.ok());
  FakeTowerIo io;
  FakeClock clock;  // a 1h wait never ends
  TowerLimits limits;
  limits.max_active = 2;
  limits.max_finished = 2;
  auto tower = ControlTower::Open(store->get(), &io, &clock, PlanTimings{}, limits);
  REQUIRE(tower.ok());
  ControlTower& t = **tower;

  REQUIRE(t.Start(Spec("w0", kLong)).ok());  // the oldest of all, and never finished
  for (const char* q : {"q0", "q1", "q2"}) {
    clock.AdvanceMs(1000);
    auto st = t.Start(Spec(q, kQuick));
    INFO(st.status().message());
    REQUIRE(st.ok());
    REQUIRE(Eventually([&] { return t.Get(q).ok() && t.Get(q)->state() == "done"; }));
  }
  // q0 finished first: forgotten in memory and in the store; w0 stays.
  CHECK(Eventually([&] { return Names(t) == std::set<std::string>{"w0", "q1", "q2"}; }));
  CHECK(t.Get("q0").status().code() == Code::kNotFound);
  CHECK(t.Metrics().find("skyport_hub_flights_forgotten_total 1") != std::string::npos);
  auto stored = (*store)->LoadAll();
  REQUIRE(stored.ok());
  std::set<std::string> stored_names;
  for (const auto& f : *stored) stored_names.insert(f.name);
  CHECK(stored_names == std::set<std::string>{"w0", "q1", "q2"});

  // A flood of starts: the third flight not finished is refused, nothing changes.
  clock.AdvanceMs(1000);
  REQUIRE(t.Start(Spec("w1", kLong)).ok());
  auto refused = t.Start(Spec("w2", kLong));
  CHECK(refused.status().code() == Code::kResourceExhausted);
  CHECK(refused.status().message().find("--max-flights") != std::string::npos);
  CHECK(t.Get("w2").status().code() == Code::kNotFound);
  CHECK(t.Metrics().find("skyport_hub_flight_starts_refused_total 1") != std::string::npos);

  // The flight log of a flight comes with the count of what did not fit (none here).
  auto log = t.Log("q2");
  REQUIRE(log.ok());
  CHECK_FALSE(log->entries.empty());
  CHECK(log->older_left_out == 0);
}

TEST_CASE("ControlTower: a store holding more finished flights than the bound loads the newest", "[hub]") {
  skyport::testing::TempDir dir;
  auto store = SqliteFlightStore::Open(dir.path() + "/flights.db", {100, 10});
  REQUIRE(store.ok());
  FakeTowerIo io;
  FakeClock clock;
  {
    TowerLimits wide;
    wide.max_finished = 10;
    auto tower = ControlTower::Open(store->get(), &io, &clock, PlanTimings{}, wide);
    REQUIRE(tower.ok());
    for (const char* q : {"q0", "q1", "q2"}) {
      clock.AdvanceMs(1000);
      REQUIRE((*tower)->Start(Spec(q, kQuick)).ok());
      REQUIRE(Eventually([&] { return (*tower)->Get(q)->state() == "done"; }));
    }
  }
  TowerLimits narrow;
  narrow.max_finished = 1;
  auto tower = ControlTower::Open(store->get(), &io, &clock, PlanTimings{}, narrow);
  REQUIRE(tower.ok());
  CHECK(Names(**tower) == std::set<std::string>{"q2"});
}

}  // namespace
}  // namespace skyport::hub
