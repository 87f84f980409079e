// RegistryState::Restore from a Persisted built by hand, as the store would.
#include <catch2/catch.hpp>

#include <string>

#include "registry/state.h"

namespace skyport::registry {
namespace {

constexpr int64_t kT0 = 5'000'000;
constexpr int64_t kWall = 1'780'000'000'000;
constexpr int64_t kGrace = 60'000;

v1::Endpoint Ep(uint64_t id, uint64_t lease, const std::string& host, uint32_t port, const std::string& app = "web") {
  v1::Endpoint e;
  e.set_id(id);
  e.set_app(app);
  e.set_commit("abcdef01");
  e.set_role("http");
  e.set_host(host);
  e.set_port(port);
  e.set_lease_id(lease);
  e.set_registered_unix_ms(kWall - 1000);
  e.set_revision(id);
  return e;
}

Allocation AllocFor(const v1::Endpoint& e) {
  Allocation a;
  a.host = e.host();
  a.port = e.port();
  a.lease_id = e.lease_id();
  a.app = e.app();
  a.commit = e.commit();
  a.role = e.role();
  a.endpoint_id = e.id();
  return a;
}

v1::Event PutEvent(int64_t rev, const v1::Endpoint& e) {
  v1::Event ev;
  ev.set_type(v1::Event::ENDPOINT_PUT);
  ev.set_revision(rev);
  *ev.mutable_endpoint() = e;
  return ev;
}

// Lease 1 (ttl 10s) holds endpoint 3 on h1:10001 and a pending port h1:10002;
// lease 2 (ttl 0) holds endpoint 5 on h2:10001. Lease 9 is gone: its endpoint
// 7 and its pending allocation must be dropped. Stored counters lag behind
// the ids in use, as a partial write could leave them.
Persisted Sample() {
  Persisted p;
  p.revision = 10;
  p.next_lease_id = 2;
  p.next_endpoint_id = 4;
  p.leases = {{1, 10}, {2, 0}};
  v1::Endpoint e3 = Ep(3, 1, "h1", 10001);
  v1::Endpoint e5 = Ep(5, 2, "h2", 10001, "api");
  v1::Endpoint e7 = Ep(7, 9, "h1", 10003);
  Allocation pending;
  pending.host = "h1";
  pending.port = 10002;
  pending.lease_id = 1;
  pending.app = "web";
  pending.commit = "abcdef01";
  pending.role = "http";
  pending.instance = 1;
  Allocation orphan = pending;
  orphan.port = 10004;
  orphan.lease_id = 9;
  p.allocations = {AllocFor(e3), AllocFor(e5), AllocFor(e7), pending, orphan};
  p.endpoints = {e3, e5, e7};
  v1::RouteConfig r;
  r.set_app("web");
  (*r.mutable_weights())["abcd"] = 1;
  r.set_revision(8);
  p.routes = {r};
  p.events = {PutEvent(9, e5), PutEvent(10, e3)};
  return p;
}

v1::AllocateRequest AllocReq(uint64_t lease, uint32_t instance) {
  v1::AllocateRequest r;
  r.set_host("h1");
  r.set_app("web");
  r.set_commit("abcdef01");
  r.set_role("http");
  r.set_instance(instance);
  r.set_lease_id(lease);
  return r;
}

TEST_CASE("Restore: entries, leases with grace, dropped orphans", "[registry][state][restore]") {
  RegistryState st({10000, 10009, 100, 3600});
  st.Restore(Sample(), kT0, kGrace);
  CHECK(st.revision() == 10);
  CHECK(st.lease_count() == 2);
  CHECK(st.endpoint_count() == 2);
  CHECK(st.allocation_count() == 3);
  REQUIRE(st.FindEndpoint(3) != nullptr);
  CHECK(st.FindEndpoint(3)->registered_unix_ms() == kWall - 1000);
  CHECK(st.FindEndpoint(5) != nullptr);
  CHECK(st.FindEndpoint(7) == nullptr);
  CHECK(st.FindAllocation({"h1", 10003}) == nullptr);
  CHECK(st.FindAllocation({"h1", 10004}) == nullptr);
  CHECK(st.FindLease(1)->endpoints == std::set<uint64_t>{3});
  CHECK(st.FindLease(1)->allocations == std::set<PortKey>{{"h1", 10001}, {"h1", 10002}});
  REQUIRE(st.FindRoute("web") != nullptr);
  CHECK(st.FindRoute("web")->revision() == 8);

  // Leases get max(ttl, grace); ttl 0 still never expires.
  CHECK(st.FindLease(1)->expires_ms == kT0 + kGrace);
  CHECK(st.NextExpiryMs() == kT0 + kGrace);
  Changes none;
  CHECK(st.ExpireLeases(kT0 + kGrace - 1, none) == 0);
  CHECK(none.empty());
  // Queries see exactly what was restored.
  CHECK(st.Query("web", "", "")->size() == 1);
  CHECK(st.Query("api", "", "")->size() == 1);
}

TEST_CASE("Restore: counters continue so new ids do not collide", "[registry][state][restore]") {
  RegistryState st({10000, 10009, 100, 3600});
  st.Restore(Sample(), kT0, kGrace);
  CHECK(st.next_lease_id() == 3);
  CHECK(st.next_endpoint_id() == 6);
  Changes ch;
  auto g = st.Grant(10, kT0, ch);
  REQUIRE(g.ok());
  CHECK(g->lease_id() == 3);
  CHECK(g->revision() == 10);
  v1::Endpoint fresh = Ep(0, 1, "h1", 10005);
  auto id = st.Register(fresh, kWall, ch);
  REQUIRE(id.ok());
  CHECK(*id == 6);
  CHECK(st.revision() == 11);
}

TEST_CASE("Restore: restored ports stay live; the holder can update in place", "[registry][state][restore]") {
  RegistryState st({10000, 10009, 100, 3600});
  st.Restore(Sample(), kT0, kGrace);
  Changes ch;
  uint64_t other = st.Grant(10, kT0, ch)->lease_id();
  CHECK(st.Register(Ep(0, other, "h1", 10001), kWall, ch).status().code() == Code::kAlreadyExists);
  // The pending allocation is returned to its holder on retry.
  CHECK(*st.Allocate(AllocReq(1, 1), 0, ch) == 10002);
  // Others skip the live ports 10001 and 10002, but 10003/10004 are free again.
  CHECK(*st.Allocate(AllocReq(other, 0), 1, ch) == 10003);
  CHECK(*st.Allocate(AllocReq(other, 1), 4, ch) == 10004);

  auto again = st.Register(Ep(0, 1, "h1", 10001), kWall + 99, ch);
  REQUIRE(again.ok());
  CHECK(*again == 3);
  CHECK(st.FindEndpoint(3)->registered_unix_ms() == kWall - 1000);
  CHECK(st.endpoint_count() == 2);
}

TEST_CASE("Restore: history resume works after a restart", "[registry][state][restore]") {
  RegistryState st({10000, 10009, 100, 3600});
  st.Restore(Sample(), kT0, kGrace);
  struct Row {
    int64_t from;
    std::optional<std::vector<int64_t>> want;
  };
  const Row rows[] = {
      {7, std::nullopt},
      {8, std::vector<int64_t>{9, 10}},
      {9, std::vector<int64_t>{10}},
      {10, std::vector<int64_t>{}},
      {11, std::nullopt},
  };
  for (const Row& r : rows) {
    INFO("from " << r.from);
    auto got = st.EventsSince(r.from, "");
    REQUIRE(got.has_value() == r.want.has_value());
    if (!got) continue;
    std::vector<int64_t> revs;
    for (const auto& e : *got) revs.push_back(e.revision());
    CHECK(revs == *r.want);
  }
  CHECK(st.EventsSince(8, "api")->size() == 1);

  // Lease 1 lapses after the grace: its endpoint goes in revision 11, which
  // a watcher resuming from 10 sees.
  Changes ch;
  CHECK(st.ExpireLeases(kT0 + kGrace, ch) == 1);
  CHECK(st.revision() == 11);
  auto tail = st.EventsSince(10, "");
  REQUIRE(tail.has_value());
  REQUIRE(tail->size() == 1);
  CHECK((*tail)[0].type() == v1::Event::ENDPOINT_DELETE);
  CHECK((*tail)[0].endpoint().id() == 3);
  CHECK(st.allocation_count() == 1);
}

TEST_CASE("Restore: without stored events only the current revision resumes", "[registry][state][restore]") {
  RegistryState st({});
  Persisted p = Sample();
  p.events.clear();
  st.Restore(std::move(p), kT0, kGrace);
  CHECK_FALSE(st.EventsSince(9, "").has_value());
  REQUIRE(st.EventsSince(10, "").has_value());
  CHECK(st.EventsSince(10, "")->empty());
}

TEST_CASE("Restore: replaces whatever was there before", "[registry][state][restore]") {
  RegistryState st({10000, 10009, 100, 3600});
  Changes ch;
  for (int i = 0; i < 5; ++i) (void)st.Grant(10, kT0, ch);
  v1::Endpoint e = Ep(0, 4, "h9", 10009, "old");
  REQUIRE(st.Register(e, kWall, ch).ok());
  st.Restore(Sample(), kT0, kGrace);
  CHECK(st.lease_count() == 2);
  CHECK(st.FindLease(4) == nullptr);
  CHECK(st.Query("old", "", "")->empty());
  CHECK(st.FindAllocation({"h9", 10009}) == nullptr);
  CHECK(st.revision() == 10);
  CHECK(st.next_lease_id() == 3);
}

TEST_CASE("Restore: a ttl longer than the grace keeps its ttl", "[registry][state][restore]") {
  RegistryState st({});
  Persisted p;
  p.revision = 1;
  p.leases = {{4, 600}};
  st.Restore(std::move(p), kT0, kGrace);
  CHECK(st.FindLease(4)->expires_ms == kT0 + 600'000);
  CHECK(st.next_lease_id() == 5);
}

}  // namespace
}  // namespace skyport::registry

namespace skyport::registry {
namespace {

TEST_CASE("Restore: inconsistent rows never make a live port free", "[registry][state][restore]") {
  // Endpoint 3's allocation row is missing; lease 1's pending row names an
  // endpoint (42) that did not come back.
  Persisted p;
  p.revision = 5;
  p.leases = {{1, 10}};
  v1::Endpoint e3 = Ep(3, 1, "h1", 10001);
  Allocation stale;
  stale.host = "h1";
  stale.port = 10002;
  stale.lease_id = 1;
  stale.app = "web";
  stale.commit = "abcdef01";
  stale.role = "http";
  stale.endpoint_id = 42;
  p.allocations = {stale};
  p.endpoints = {e3};
  RegistryState st(StateOptions{.port_lo = 10001, .port_hi = 10003});
  st.Restore(p, kT0, kGrace);

  const Allocation* a = st.FindAllocation({"h1", 10001});
  REQUIRE(a != nullptr);
  CHECK(a->endpoint_id == 3);
  CHECK(a->lease_id == 1);
  REQUIRE(st.FindAllocation({"h1", 10002}) != nullptr);
  CHECK(st.FindAllocation({"h1", 10002})->endpoint_id == 0);

  // Only 10003 is free; another holder cannot take 10001 or 10002.
  Changes ch;
  auto g = st.Grant(10, kT0, ch);
  REQUIRE(g.ok());
  for (uint64_t r = 0; r < 3; ++r) {
    Changes c2;
    auto port = st.Allocate(AllocReq(g->lease_id(), static_cast<uint32_t>(r)), r, c2);
    if (r == 0) {
      REQUIRE(port.ok());
      CHECK(*port == 10003);
    } else {
      CHECK(port.status().code() == Code::kResourceExhausted);
    }
  }
  // Registering on the stale allocation by its own lease works (no throw).
  v1::Endpoint again = Ep(0, 1, "h1", 10002);
  Changes c3;
  auto id = st.Register(again, kWall, c3);
  REQUIRE(id.ok());
  CHECK(*id >= 4);
}

}  // namespace
}  // namespace skyport::registry
