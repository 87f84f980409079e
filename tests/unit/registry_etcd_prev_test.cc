// The previous values of deleted entries (registry/etcd_prev.h): the watch
// asks etcd for no prev_kv, and the reads that replace it are linear in the
// deletes — one read per revision and kind for a lease's end, never one per key.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "registry/etcd_events.h"
#include "registry/etcd_prev.h"
#include "rpc/etcd_endpoints.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

const EtcdKeys kKeys("/sky/");

mvccpb::KeyValue EpKv(uint64_t id, const std::string& app, int64_t mod) {
  v1::Endpoint ep = Ep(7, "10.0.0.1", static_cast<uint32_t>(10000 + id % 50000), app);
  ep.set_id(id);
  ep.set_registered_unix_ms(kWall);
  mvccpb::KeyValue kv;
  kv.set_key(kKeys.Endpoint(id));
  kv.set_value(EncodeEndpoint(ep));
  kv.set_create_revision(mod);
  kv.set_mod_revision(mod);
  kv.set_version(1);
  kv.set_lease(7);
  return kv;
}

mvccpb::Event Delete(const std::string& key, int64_t rev) {
  mvccpb::Event e;
  e.set_type(mvccpb::Event::DELETE);
  e.mutable_kv()->set_key(key);
  e.mutable_kv()->set_mod_revision(rev);
  return e;
}

TEST_CASE("etcd prev: the registry's etcd watch asks for no prev_kv", "[registry][etcd]") {
  // etcd 3.4 answers prev_kv with a read per event, each O(the revision's
  // writes): 10,000 endpoints revoked took 49 s to reach a watcher.
  etcd::WatchSpec spec = RegistryWatchSpec(kKeys, 42);
  CHECK_FALSE(spec.prev_kv);
  CHECK(spec.key == kKeys.root());
  CHECK(spec.range_end == etcd::PrefixEnd(kKeys.root()));
  CHECK(spec.start_revision == 42);
}

TEST_CASE("etcd prev: a lease's end of 20,000 entries is one read, then every delete carries its entry",
          "[registry][etcd]") {
  const int64_t rev = 500;
  constexpr uint64_t kN = 20'000;
  std::vector<mvccpb::Event> events;
  google::protobuf::RepeatedPtrField<mvccpb::KeyValue> before;  // what etcd holds at rev - 1
  for (uint64_t id = 1; id <= kN; ++id) {
    // Deleted in key order with their ports, as etcd's lease revoke does.
    events.push_back(Delete(kKeys.Endpoint(id * 3), rev));
    events.push_back(Delete(kKeys.Port("10.0.0.1", static_cast<uint32_t>(10000 + id % 50000)), rev));
    *before.Add() = EpKv(id * 3, id % 2 ? "web" : "shop", 100);
    *before.Add() = EpKv(id * 3 + 1, "kept", 100);  // in the span, not deleted: ignored
  }
  PrevPlan plan = PlanPrevReads(kKeys, events);
  REQUIRE(plan.reads.size() == 1);
  CHECK(plan.reads[0].revision == rev - 1);
  CHECK(plan.reads[0].key == kKeys.Endpoint(3));
  CHECK(plan.reads[0].range_end == kKeys.Endpoint(kN * 3) + std::string(1, '\0'));
  CHECK(plan.wanted.size() == kN);  // ports are not events: no value needed

  CHECK(AttachPrev(plan, plan.reads[0].revision, before, events) == kN);
  Delta d = ToDelta(kKeys, events, rev, "web");
  CHECK(d.undecodable == 0);
  REQUIRE(d.message);
  REQUIRE(d.message->events_size() == static_cast<int>(kN / 2));
  CHECK(d.message->events(0).type() == v1::Event::ENDPOINT_DELETE);
  CHECK(d.message->events(0).endpoint().id() == 3);
  CHECK(d.message->events(0).endpoint().app() == "web");
  CHECK(d.message->events(0).revision() == rev);
}

TEST_CASE("etcd prev: few deletes are read key by key, per revision, at the revision before",
          "[registry][etcd]") {
  mvccpb::KeyValue route;
  route.set_key(kKeys.Route("web"));
  std::vector<mvccpb::Event> events;
  events.push_back(Delete(kKeys.Endpoint(9), 20));
  events.push_back(Delete(kKeys.Endpoint(4), 20));
  events.push_back(Delete(kKeys.Route("web"), 20));
  events.push_back(Delete(kKeys.Lease(7), 20));  // not an event: nothing read
  events.push_back(Delete(kKeys.Endpoint(9), 23));  // registered again at 21, deleted again
  PrevPlan plan = PlanPrevReads(kKeys, events);
  REQUIRE(plan.reads.size() == 4);
  CHECK(plan.reads[0].key == kKeys.Endpoint(4));
  CHECK(plan.reads[1].key == kKeys.Endpoint(9));
  CHECK(plan.reads[2].key == kKeys.Route("web"));
  for (int i = 0; i < 3; ++i) CHECK(plan.reads[i].revision == 19);
  CHECK(plan.reads[3].key == kKeys.Endpoint(9));
  CHECK(plan.reads[3].revision == 22);
  for (const auto& r : plan.reads) CHECK(r.range_end.empty());

  // Each read's values go to the delete of its revision only.
  google::protobuf::RepeatedPtrField<mvccpb::KeyValue> at19, at22;
  *at19.Add() = EpKv(9, "web", 10);
  *at22.Add() = EpKv(9, "shop", 21);
  CHECK(AttachPrev(plan, 19, at19, events) == 1);
  CHECK(AttachPrev(plan, 22, at22, events) == 1);
  Delta d = ToDelta(kKeys, events, 23, "");
  // Endpoint 4 and the route were not found at 19: DATA_LOSS, counted, never invented.
  CHECK(d.undecodable == 2);
  REQUIRE(d.message);
  REQUIRE(d.message->events_size() == 2);
  CHECK(d.message->events(0).endpoint().app() == "web");
  CHECK(d.message->events(0).revision() == 20);
  CHECK(d.message->events(1).endpoint().app() == "shop");
  CHECK(d.message->events(1).revision() == 23);
}

TEST_CASE("etcd prev: more than kMaxKeyReads deletes in a revision are one span read",
          "[registry][etcd]") {
  std::vector<mvccpb::Event> events;
  for (uint64_t id = 1; id <= kMaxKeyReads; ++id) events.push_back(Delete(kKeys.Endpoint(id), 30));
  CHECK(PlanPrevReads(kKeys, events).reads.size() == kMaxKeyReads);
  events.push_back(Delete(kKeys.Endpoint(1000), 30));
  PrevPlan plan = PlanPrevReads(kKeys, events);
  REQUIRE(plan.reads.size() == 1);
  CHECK(plan.reads[0].range_end == kKeys.Endpoint(1000) + std::string(1, '\0'));
  // Puts and deletes that came with their value need no read.
  std::vector<mvccpb::Event> none;
  mvccpb::Event put;
  put.set_type(mvccpb::Event::PUT);
  *put.mutable_kv() = EpKv(5, "web", 31);
  none.push_back(put);
  mvccpb::Event with_prev = Delete(kKeys.Endpoint(5), 32);
  *with_prev.mutable_prev_kv() = EpKv(5, "web", 31);
  none.push_back(with_prev);
  CHECK(PlanPrevReads(kKeys, none).reads.empty());
}

}  // namespace
}  // namespace skyport::registry
