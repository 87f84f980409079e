// What `skyport-registry migrate` copies and compares (registry/migrate_data.h).
#include <catch2/catch.hpp>

#include "registry/migrate_data.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

Persisted Sample() {
  Persisted p;
  p.revision = 40;
  p.leases = {{1, 0}, {2, 30}};
  v1::Endpoint ep = Ep(1, "h1", 10004);
  ep.set_id(7);
  ep.set_revision(33);
  p.endpoints.push_back(ep);
  v1::Endpoint orphan = Ep(9, "h1", 10005);  // its lease is gone
  orphan.set_id(8);
  p.endpoints.push_back(orphan);
  p.allocations.push_back(Allocation{"h1", 10006, 2, "web", "abcdef01", "http", 1, 0});
  p.allocations.push_back(Allocation{"h1", 10007, 9, "web", "abcdef01", "http", 2, 0});   // lease gone
  p.allocations.push_back(Allocation{"h1", 10008, 2, "web", "abcdef01", "http", 3, 99});  // entry gone
  v1::RouteConfig r;
  r.set_app("web");
  r.set_revision(12);
  p.routes.push_back(r);
  return p;
}

TEST_CASE("migrate: Normalize keeps the live part, as RegistryState::Restore reads it", "[registry][migrate]") {
  MigrationData d = Normalize(Sample());
  CHECK(d.revision == 40);
  CHECK(d.leases == std::map<uint64_t, uint32_t>{{1, 0}, {2, 30}});
  REQUIRE(d.endpoints.size() == 1);
  CHECK(d.endpoints.at(7).revision() == 0);  // each store counts its own revisions
  REQUIRE(d.allocations.size() == 3);
  // The endpoint's port is its own, whatever the rows said.
  CHECK(d.allocations.at({"h1", 10004}).endpoint_id == 7);
  CHECK(d.allocations.at({"h1", 10006}).endpoint_id == 0);
  CHECK(d.allocations.at({"h1", 10008}).endpoint_id == 0);  // only reserved now
  CHECK(d.allocations.count({"h1", 10007}) == 0);
  CHECK(d.routes.at("web").revision() == 0);
}

TEST_CASE("migrate: two entries on one host:port (an etcd restore's stray beside its successor) keep the newest",
          "[registry][migrate]") {
  Persisted p;
  p.leases = {{1, 30}};
  v1::Endpoint stray = Ep(1, "h1", 10004);
  stray.set_id(7);
  stray.set_revision(10);
  v1::Endpoint now = Ep(1, "h1", 10004);
  now.set_id(12);
  now.set_revision(55);
  p.endpoints = {now, stray};
  MigrationData d = Normalize(p);
  REQUIRE(d.endpoints.size() == 1);
  CHECK(d.endpoints.count(12) == 1);
  CHECK(d.allocations.at({"h1", 10004}).endpoint_id == 12);
  // Whatever the order they come in.
  p.endpoints = {stray, now};
  CHECK(Normalize(p).endpoints.count(12) == 1);

  // And a store that holds two anyway frees the port only with the entry on it.
  RegistryState st(SmallRange());
  Persisted both;
  both.leases = {{1, 30}};
  both.endpoints = {stray, now};
  st.Restore(both, kT0, 0);
  REQUIRE(st.endpoint_count() == 2);
  CHECK(st.FindAllocation({"h1", 10004})->endpoint_id == 12);
  Changes ch;
  REQUIRE(st.Deregister(7, ch).ok());
  REQUIRE(st.FindAllocation({"h1", 10004}) != nullptr);  // entry 12 keeps its port
  CHECK(st.FindAllocation({"h1", 10004})->endpoint_id == 12);
  REQUIRE(st.Deregister(12, ch).ok());
  CHECK(st.FindAllocation({"h1", 10004}) == nullptr);
}

TEST_CASE("migrate: per identity, the last unregistered allocation listed answers a retried Allocate",
          "[registry][migrate]") {
  Persisted p = Sample();
  // Identity #1 of lease 2 holds 10006 (above) and, written later, 10002.
  p.allocations.push_back(Allocation{"h1", 10002, 2, "web", "abcdef01", "http", 1, 0});
  MigrationData d = Normalize(p);
  // 10008 answers too: its entry is gone, so it is only reserved.
  CHECK(d.answering == std::set<PortKey>{{"h1", 10002}, {"h1", 10008}});
  // RegistryState::Restore of the same rows answers the same.
  RegistryState st(SmallRange());
  st.Restore(p, kT0, 0);
  Changes ch;
  auto again = st.Allocate(AllocReq(2, "h1", 1), 0, ch);
  REQUIRE(again.ok());
  CHECK(*again == 10002);

  std::swap(p.allocations[0], p.allocations.back());  // 10006 listed last now
  MigrationData other = Normalize(p);
  CHECK(other.answering == std::set<PortKey>{{"h1", 10006}, {"h1", 10008}});
  CHECK(FirstDifference(d, other) ==
        "port h1:10002: answers a retried Allocate in the source, not in the destination");
  CHECK(FirstDifference(other, d) ==
        "port h1:10006: answers a retried Allocate in the source, not in the destination");
}

TEST_CASE("migrate: FirstDifference names the first record that differs", "[registry][migrate]") {
  const MigrationData a = Normalize(Sample());
  CHECK(FirstDifference(a, a).empty());

  MigrationData b = a;
  b.revision = 99;  // revisions are not compared
  CHECK(FirstDifference(a, b).empty());

  b.leases[2] = 31;
  CHECK(FirstDifference(a, b) == "lease 2: ttl 30 in the source, ttl 31 in the destination");
  b = a;
  b.leases.erase(1);
  CHECK(FirstDifference(a, b) == "lease 1: in the source, missing from the destination");
  b = a;
  b.allocations[{"h1", 10006}].instance = 5;
  CHECK(FirstDifference(a, b).rfind("port h1:10006: lease 2 web@abcdef01 http #1 entry 0 in the source", 0) == 0);
  b = a;
  b.endpoints[7].set_pid(4);
  CHECK(FirstDifference(a, b).rfind("endpoint 7: ", 0) == 0);
  b = a;
  (*b.routes["web"].mutable_weights())["abcdef01"] = 1;
  CHECK(FirstDifference(a, b).rfind("route web: ", 0) == 0);
  b = a;
  b.routes["shop"].set_app("shop");
  CHECK(FirstDifference(a, b) == "route shop: in the destination only");
}

}  // namespace
}  // namespace skyport::registry
