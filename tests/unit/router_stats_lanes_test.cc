// The router's StatsShipper with several hubs (router/stats_shipper.h): every
// hub gets every row, a hub that is away holds back no other, and what waits
// for it stays within the bounds (counted per hub). In-process fake sinks.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "router/stats_shipper.h"
#include "rpc/channel.h"

namespace skyport::router {
namespace {

class FakeSink final : public v1::StatsSink::Service {
 public:
  FakeSink() {
    auto creds = rpc::ServerCredentials(rpc::TlsFiles{});
    REQUIRE(creds.ok());
    auto started = rpc::StartServer("127.0.0.1:0", *creds, {this}, 1 << 24);
    REQUIRE(started.ok());
    server_ = std::move(started->server);
    address_ = "127.0.0.1:" + std::to_string(started->port);
  }
  ~FakeSink() override { server_->Shutdown(); }
  grpc::Status Ship(grpc::ServerContext*, const v1::ShipStatsRequest* req, v1::ShipStatsResponse* resp) override {
    rows += req->rows_size();
    resp->set_accepted(req->rows_size());
    return grpc::Status::OK;
  }
  const std::string& address() const { return address_; }
  std::atomic<int> rows{0};

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

ShipTarget Target(const std::string& address) {
  auto ch = rpc::Dial(address, rpc::TlsFiles{});
  REQUIRE(ch.ok());
  return ShipTarget{address, *ch};
}

v1::ShipStatsRequest Rows(int n) {
  v1::ShipStatsRequest req;
  for (int i = 0; i < n; ++i) {
    auto* r = req.add_rows();
    r->set_app("webapp");
    r->set_arm("a");
    r->set_event("purchase");
    r->set_user("u" + std::to_string(i));
    r->set_count(1);
  }
  return req;
}

template <class Pred>
bool WaitFor(Pred pred, int64_t ms = 10'000) {
  const int64_t end = MonoNowMs() + ms;
  while (MonoNowMs() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

TEST_CASE("StatsShipper: every hub gets every row; one away holds back no other and stays bounded", "[router][ship]") {
  FakeSink live;
  std::string dead;
  {
    FakeSink gone;
    dead = gone.address();
  }
  ShipperOptions o;
  o.max_rows = 10;
  o.batch_rows = 4;
  StatsShipper shipper({Target(dead), Target(live.address())}, "", "r1/test", nullptr, o);
  shipper.Start();
  shipper.Offer(Rows(8));
  REQUIRE(WaitFor([&] { return live.rows == 8; }));
  shipper.Offer(Rows(8));
  REQUIRE(WaitFor([&] { return live.rows == 16; }));
  // The sink counts a batch before its answer reaches the shipper: wait for the lane to count it too.
  REQUIRE(WaitFor([&] { return shipper.lanes().at(1).shipped_rows == 16; }));
  auto lanes = shipper.lanes();
  REQUIRE(lanes.size() == 2);
  CHECK(lanes[0].hub == dead);
  CHECK(lanes[1].hub == live.address());
  CHECK(lanes[1].shipped_rows == 16);
  CHECK(lanes[1].dropped_rows == 0);
  CHECK(lanes[1].pending_rows == 0);
  // The hub that is away: at most max_rows wait for it (plus the batch it
  // keeps trying), the rest counted as dropped for it alone.
  CHECK(lanes[0].shipped_rows == 0);
  CHECK(lanes[0].dropped_rows >= 2);
  CHECK(lanes[0].pending_rows <= o.max_rows + o.batch_rows);
  CHECK(lanes[0].dropped_rows + lanes[0].pending_rows == 16);
  CHECK(lanes[0].failures >= 1);
  CHECK_FALSE(lanes[0].up);
  CHECK(lanes[1].up);
  CHECK(shipper.pending_rows() == lanes[0].pending_rows);  // what some hub has not taken
  CHECK(shipper.dropped_rows() == lanes[0].dropped_rows);
  CHECK_FALSE(shipper.hub_ok());
  shipper.Stop(0);
}

TEST_CASE("StatsShipper: with one hub, as before", "[router][ship]") {
  FakeSink live;
  StatsShipper shipper({Target(live.address())}, "", "r1/test");
  shipper.Offer(Rows(3));
  shipper.Start();
  REQUIRE(WaitFor([&] { return live.rows == 3; }));
  // The sink counts the rows before its answer reaches the shipper (a CI run read 0 here).
  REQUIRE(WaitFor([&] { return shipper.shipped_rows() == 3; }));
  REQUIRE(WaitFor([&] { return shipper.hub_ok(); }));
  CHECK(shipper.pending_rows() == 0);
  shipper.Stop(0);
}

}  // namespace
}  // namespace skyport::router
