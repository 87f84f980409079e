// The client side of the hub leader contract (rpc/leader.h) and of address
// lists (rpc/failover.h), against in-process fake hubs on loopback.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "rpc/address_pool.h"
#include "rpc/failover.h"
#include "rpc/leader.h"
#include "skyport/v1/hub.grpc.pb.h"

namespace skyport::rpc {
namespace {

// A hub that leads (answers Ps with one process named after itself), stands
// by (refuses with the leader it is told), or fails every call with a plain
// UNAVAILABLE (a hub whose outcome is unknown to its client).
class FakeHub final : public v1::Hub::Service {
 public:
  enum Mode { kLeader, kStandby, kBroken };
  explicit FakeHub(Mode mode, std::string leader = "") : mode_(mode), leader_(std::move(leader)) {
    auto creds = ServerCredentials(TlsFiles{});
    REQUIRE(creds.ok());
    auto started = StartServer("127.0.0.1:0", *creds, {this}, 1 << 20);
    REQUIRE(started.ok());
    server_ = std::move(started->server);
    address_ = "127.0.0.1:" + std::to_string(started->port);
  }
  ~FakeHub() override { server_->Shutdown(); }
  void set_leader(std::string leader) {
    std::lock_guard lock(mu_);
    leader_ = std::move(leader);
  }
  void set_mode(Mode mode) { mode_ = mode; }

  grpc::Status Ps(grpc::ServerContext* ctx, const v1::PsRequest*, v1::PsResponse* resp) override {
    ++calls;
    if (mode_ == kStandby) return StandbyAnswer(*ctx, leader());
    if (mode_ == kBroken) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "broken");
    resp->add_processes()->set_app("answered-by-leader");
    return grpc::Status::OK;
  }
  grpc::Status Stop(grpc::ServerContext* ctx, const v1::StopRequest*, v1::StopResponse* resp) override {
    ++calls;
    if (mode_ == kStandby) return StandbyAnswer(*ctx, leader());
    if (mode_ == kBroken) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "broken mid-call");
    resp->set_stopped(1);
    return grpc::Status::OK;
  }

  const std::string& address() const { return address_; }
  std::atomic<int> calls{0};

 private:
  std::string leader() {
    std::lock_guard lock(mu_);
    return leader_;
  }
  std::atomic<Mode> mode_;
  std::mutex mu_;
  std::string leader_;  // guarded by mu_
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// A loopback port nothing listens on (bound, then closed).
std::string DeadAddress() {
  FakeHub gone(FakeHub::kLeader);
  return gone.address();
}

std::shared_ptr<AddressPool> Pool(const std::string& list) {
  auto pool = AddressPool::Create("hub", list, TlsFiles{});
  REQUIRE(pool.ok());
  return *pool;
}

Answered Ps(AddressPool& pool, Retry retry = Retry::kSafe, int64_t timeout_ms = 5000) {
  return CallWithFailover(pool, "", FailoverOptions{timeout_ms, false, retry},
                          [](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
                            v1::PsResponse resp;
                            auto st = v1::Hub::NewStub(ch)->Ps(&ctx, v1::PsRequest(), &resp);
                            if (st.ok() && (resp.processes_size() != 1 || resp.processes(0).app() != "answered-by-leader"))
                              return grpc::Status(grpc::StatusCode::INTERNAL, "not the leader's answer");
                            return st;
                          });
}

Answered Stop(AddressPool& pool) {
  return CallWithFailover(pool, "", FailoverOptions{5000, false, Retry::kIfUnsent},
                          [](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx) {
                            v1::StopResponse resp;
                            return v1::Hub::NewStub(ch)->Stop(&ctx, v1::StopRequest(), &resp);
                          });
}

TEST_CASE("Failover: a dead address is skipped and the live one answers", "[core][failover]") {
  FakeHub live(FakeHub::kLeader);
  auto pool = Pool(DeadAddress() + "," + live.address());
  auto got = Ps(*pool);
  REQUIRE(got.status.ok());
  CHECK(got.by == live.address());
  CHECK(pool->current() == live.address());
  // The one that answered goes first: the next call reaches it directly.
  CHECK(pool->Order().front() == live.address());
  CHECK(Ps(*pool).by == live.address());
  CHECK(live.calls == 2);
}

TEST_CASE("Failover: a standby sends the call to the leader it names, even outside the list", "[core][failover]") {
  FakeHub leader(FakeHub::kLeader);
  FakeHub standby(FakeHub::kStandby, leader.address());
  auto pool = Pool(DeadAddress() + "," + standby.address());
  for (Retry retry : {Retry::kSafe, Retry::kIfUnsent}) {
    auto got = retry == Retry::kSafe ? Ps(*pool) : Stop(*pool);
    REQUIRE(got.status.ok());
    CHECK(got.by == leader.address());
  }
  // Learnt: the leader is tried first from now on, the standby not again.
  CHECK(pool->Order().front() == leader.address());
  int standby_calls = standby.calls;
  CHECK(Ps(*pool).by == leader.address());
  CHECK(standby.calls == standby_calls);
}

TEST_CASE("Failover: two standbys naming each other do not loop", "[core][failover]") {
  FakeHub a(FakeHub::kStandby);
  FakeHub b(FakeHub::kStandby, a.address());
  a.set_leader(b.address());
  auto pool = Pool(a.address() + "," + b.address());
  auto got = Ps(*pool, Retry::kSafe, /*timeout_ms=*/1000);
  CHECK(got.status.code() == Code::kUnavailable);
  CHECK(got.by.empty());
  CHECK_THAT(got.status.message(), Catch::Contains("standby"));
  // Each walk: the list (2) plus kMaxLeaderHops hops, no more; a walk every
  // kRewalkPauseMs until the deadline (an election may end meanwhile).
  const int per_walk = 2 + kMaxLeaderHops;
  CHECK(a.calls + b.calls >= per_walk);
  CHECK((a.calls + b.calls) % per_walk == 0);
  CHECK(a.calls + b.calls <= per_walk * (1 + 1000 / static_cast<int>(kRewalkPauseMs)));
}

TEST_CASE("Failover: standbys naming a dead leader: the call waits out the election, not the dead address",
          "[core][failover]") {
  const std::string dead = DeadAddress();
  FakeHub b(FakeHub::kStandby, dead);
  FakeHub c(FakeHub::kStandby, dead);
  auto pool = Pool(dead + "," + b.address() + "," + c.address());
  for (Retry retry : {Retry::kSafe, Retry::kIfUnsent}) {
    INFO((retry == Retry::kSafe ? "read" : "write"));
    c.set_mode(FakeHub::kStandby);
    b.calls = c.calls = 0;
    std::thread elect([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      c.set_mode(FakeHub::kLeader);  // c wins the election; b still names the dead one
    });
    const auto t0 = std::chrono::steady_clock::now();
    auto got = retry == Retry::kSafe ? Ps(*pool, retry, 10'000) : Stop(*pool);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    elect.join();
    REQUIRE(got.status.ok());
    CHECK(got.by == c.address());
    // Answered within a walk or two of the new leader (not after the dead address's connect attempts).
    CHECK(ms.count() < 600 + 2 * kRewalkPauseMs + 1000);
    CHECK(b.calls >= 1);
  }
}

TEST_CASE("Failover: a standby that knows no leader passes the call down the list", "[core][failover]") {
  FakeHub standby(FakeHub::kStandby);
  FakeHub leader(FakeHub::kLeader);
  auto pool = Pool(standby.address() + "," + leader.address());
  auto got = Stop(*pool);
  REQUIRE(got.status.ok());
  CHECK(got.by == leader.address());
}

TEST_CASE("Failover: a write whose outcome is unknown is not sent again", "[core][failover]") {
  FakeHub broken(FakeHub::kBroken);
  FakeHub leader(FakeHub::kLeader);
  auto pool = Pool(broken.address() + "," + leader.address());
  auto write = Stop(*pool);
  CHECK(write.status.code() == Code::kUnavailable);
  CHECK(write.by == broken.address());
  CHECK(leader.calls == 0);
  // A read is: it cannot do harm twice.
  broken.calls = 0;
  auto pool2 = Pool(broken.address() + "," + leader.address());
  auto read = Ps(*pool2);
  REQUIRE(read.status.ok());
  CHECK(read.by == leader.address());
  CHECK(broken.calls == 1);
}

TEST_CASE("Failover: a write skips an address it cannot connect to", "[core][failover]") {
  FakeHub leader(FakeHub::kLeader);
  auto pool = Pool(DeadAddress() + "," + leader.address());
  auto got = Stop(*pool);
  REQUIRE(got.status.ok());
  CHECK(got.by == leader.address());
}

TEST_CASE("Failover: a single address behaves as a plain call", "[core][failover]") {
  auto dead = DeadAddress();
  auto pool = Pool(dead);
  auto got = Ps(*pool);
  CHECK(got.status.code() == Code::kUnavailable);
  CHECK_THAT(got.status.message(), !Catch::Contains("tried"));
  auto all_dead = Pool(dead + "," + DeadAddress());
  auto both = Ps(*all_dead);
  CHECK(both.status.code() == Code::kUnavailable);
  CHECK_THAT(both.status.message(), Catch::Contains("hub tried: "));
}

TEST_CASE("AttemptBudgetMs: shares the time left, keeps a floor", "[core][failover]") {
  struct Row {
    int64_t remaining;
    size_t left;
    int64_t want;
  };
  const Row rows[] = {{10'000, 1, 10'000}, {10'000, 2, 5'000}, {10'000, 20, 1'000},
                      {600, 3, 600},       {0, 2, 0},          {-5, 1, 0}};
  for (const Row& r : rows) {
    INFO(r.remaining << " ms, " << r.left << " left");
    CHECK(AttemptBudgetMs(r.remaining, r.left) == r.want);
  }
}

}  // namespace
}  // namespace skyport::rpc
