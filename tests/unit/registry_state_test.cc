// RegistryState: leases, allocation and registration.
// Expiry and queries: registry_state_expiry_test.cc; routes, snapshots and
// history: registry_state_routes_test.cc; Restore: registry_state_restore_test.cc.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "registry/state.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

TEST_CASE("State: Grant assigns increasing ids and changes no revision", "[registry][state]") {
  RegistryState st(SmallRange());
  for (uint64_t want = 1; want <= 3; ++want) {
    Changes ch;
    auto g = st.Grant(30, kT0, ch);
    REQUIRE(g.ok());
    CHECK(g->lease_id() == want);
    CHECK(g->ttl_seconds() == 30);
    CHECK(g->revision() == 0);
    CHECK(ch.leases == std::set<uint64_t>{want});
    CHECK(ch.events.empty());
  }
  CHECK(st.revision() == 0);
  CHECK(st.lease_count() == 3);

  Changes ch;
  auto too_long = st.Grant(3601, kT0, ch);
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.status().code() == Code::kInvalidArgument);
  CHECK_THAT(too_long.status().message(), Catch::StartsWith("ttl_seconds: 3601 exceeds 3600"));
  CHECK(ch.empty());
  CHECK(st.next_lease_id() == 4);  // a rejected Grant uses no id
  CHECK(st.Grant(3600, kT0, ch).ok());
  CHECK(st.Grant(0, kT0, ch).ok());
}

TEST_CASE("State: KeepAlive and Revoke", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st, 10);
  CHECK(*st.KeepAlive(a, kT0 + 9'000) == 10);
  CHECK(st.FindLease(a)->expires_ms == kT0 + 19'000);
  CHECK(st.KeepAlive(a, kT0 + 19'000).status().code() == Code::kNotFound);
  CHECK(st.KeepAlive(999, kT0).status().code() == Code::kNotFound);

  uint64_t b = GrantLease(st, 10);
  Changes ach;
  uint32_t port = *st.Allocate(AllocReq(b), 3, ach);
  Changes ch;
  auto removed = st.Revoke(b, ch);
  REQUIRE(removed.ok());
  CHECK(*removed == 0);
  CHECK(st.revision() == 0);  // nothing a watcher sees changed
  CHECK(ch.events.empty());
  CHECK(ch.leases == std::set<uint64_t>{b});
  CHECK(ch.allocations == std::set<PortKey>{{"h1", port}});
  CHECK(st.FindAllocation({"h1", port}) == nullptr);
  CHECK(st.FindLease(b) == nullptr);
  CHECK(st.Revoke(b, ch).status().code() == Code::kNotFound);
}

TEST_CASE("State: Allocate is idempotent per holder and never hands out a live port", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t lease = GrantLease(st);
  Changes ch;
  auto first = st.Allocate(AllocReq(lease, "h1", 0), 5, ch);
  REQUIRE(first.ok());
  CHECK(*first == 10005);
  CHECK(ch.allocations == std::set<PortKey>{{"h1", 10005}});
  CHECK(ch.events.empty());
  CHECK(st.revision() == 0);
  CHECK(st.FindLease(lease)->allocations.count({"h1", 10005}) == 1);

  // The same holder retrying gets the same port, whatever the random value.
  Changes again;
  CHECK(*st.Allocate(AllocReq(lease, "h1", 0), 0, again) == 10005);
  CHECK(again.empty());
  CHECK(st.allocation_count() == 1);

  // Other instances never get a live port; the range fills up.
  std::set<uint32_t> ports{10005};
  for (uint32_t inst = 1; inst < 10; ++inst) {
    auto p = st.Allocate(AllocReq(lease, "h1", inst), 5, ch);
    REQUIRE(p.ok());
    CHECK(ports.insert(*p).second);
  }
  CHECK(ports.size() == 10);
  auto full = st.Allocate(AllocReq(lease, "h1", 10), 5, ch);
  CHECK(full.status().code() == Code::kResourceExhausted);

  // Another host has its own ports.
  CHECK(*st.Allocate(AllocReq(lease, "h2", 10), 5, ch) == 10005);
  CHECK(st.allocation_count() == 11);
}

TEST_CASE("State: Allocate never returns an avoided port (a clash outside the cluster)", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t lease = GrantLease(st);
  Changes ch;
  REQUIRE(*st.Allocate(AllocReq(lease, "h1", 0), 5, ch) == 10005);
  // The holder found a stranger on 10005: the retry drops that allocation and gets another.
  auto req = AllocReq(lease, "h1", 0);
  req.add_avoid(10005);
  req.add_avoid(10006);
  Changes again;
  auto next = st.Allocate(req, 5, again);
  REQUIRE(next.ok());
  CHECK(*next == 10007);
  CHECK(again.allocations == std::set<PortKey>{{"h1", 10005}, {"h1", 10007}});
  CHECK(st.allocation_count() == 1);
  CHECK(st.FindLease(lease)->allocations.count({"h1", 10005}) == 0);
  // The wrap-around skips avoided ports too; all avoided or live is exhausted.
  auto wrap = AllocReq(lease, "h1", 1);
  for (uint32_t p : {10008u, 10009u, 10000u}) wrap.add_avoid(p);
  CHECK(*st.Allocate(wrap, 8, ch) == 10001);
  auto none = AllocReq(lease, "h1", 2);
  for (uint32_t p = 10000; p <= 10009; ++p) none.add_avoid(p);
  CHECK(st.Allocate(none, 0, ch).status().code() == Code::kResourceExhausted);
  // A fresh host with avoided ports.
  auto fresh = AllocReq(lease, "h9", 0);
  fresh.add_avoid(10005);
  CHECK(*st.Allocate(fresh, 5, ch) == 10006);
  auto many = AllocReq(lease, "h1", 3);
  for (uint32_t i = 0; i < 65; ++i) many.add_avoid(10000 + i);
  CHECK(st.Allocate(many, 0, ch).status().code() == Code::kInvalidArgument);
}

TEST_CASE("State: Allocate with an explicit port reserves exactly that port", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st);
  uint64_t b = GrantLease(st);
  auto with_port = [](v1::AllocateRequest r, uint32_t port) {
    r.set_port(port);
    return r;
  };
  Changes ch;
  REQUIRE(*st.Allocate(with_port(AllocReq(a), 10003), 0, ch) == 10003);
  CHECK(ch.allocations == std::set<PortKey>{{"h1", 10003}});
  CHECK(st.FindAllocation({"h1", 10003})->lease_id == a);
  CHECK(st.revision() == 0);

  Changes again;  // the holder asking again: same port, nothing changes
  CHECK(*st.Allocate(with_port(AllocReq(a, "h1", 4), 10003), 0, again) == 10003);
  CHECK(again.empty());

  Changes clash;
  auto taken = st.Allocate(with_port(AllocReq(b), 10003), 0, clash);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.status().code() == Code::kAlreadyExists);
  CHECK_THAT(taken.status().message(), Catch::StartsWith("port: h1:10003 is live for another holder"));
  CHECK(clash.empty());
  CHECK(st.Register(Ep(b, "h1", 10003), kWall, clash).status().code() == Code::kAlreadyExists);

  // Picked ports skip it; one outside the range is fine and does not fill it.
  CHECK(*st.Allocate(AllocReq(b), 3, ch) == 10004);
  CHECK(*st.Allocate(with_port(AllocReq(b, "h1", 1), 8080), 0, ch) == 8080);
  CHECK(*st.Allocate(with_port(AllocReq(b, "h2", 1), 10003), 0, ch) == 10003);  // other host

  // The holder registers on it; asking for it again still answers the port.
  uint64_t id = MustRegister(st, Ep(a, "h1", 10003));
  CHECK(st.FindAllocation({"h1", 10003})->endpoint_id == id);
  CHECK(*st.Allocate(with_port(AllocReq(a), 10003), 0, ch) == 10003);
  CHECK(st.Allocate(with_port(AllocReq(b), 10003), 0, ch).status().code() == Code::kAlreadyExists);

  Changes bad;
  auto out_of_range = st.Allocate(with_port(AllocReq(a), 70000), 0, bad);
  CHECK(out_of_range.status().code() == Code::kInvalidArgument);
  CHECK(out_of_range.status().message() == "port: 70000 is out of range 1..65535");
  CHECK(bad.empty());
}

TEST_CASE("State: Allocate rejects bad requests without changing anything", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t lease = GrantLease(st);
  struct Row {
    v1::AllocateRequest req;
    std::string starts;
  };
  auto with = [&](auto f) {
    v1::AllocateRequest r = AllocReq(lease);
    f(r);
    return r;
  };
  const Row rows[] = {
      {with([](auto& r) { r.set_lease_id(77); }), "lease_id: unknown lease 77"},
      {with([](auto& r) { r.set_lease_id(0); }), "lease_id: required"},
      {with([](auto& r) { r.set_app("Web"); }), "app: \"Web\""},
      {with([](auto& r) { r.set_role("-x"); }), "role: \"-x\""},
      {with([](auto& r) { r.set_commit("zz"); }), "commit: \"zz\""},
      {with([](auto& r) { r.set_host(""); }), "host: \"\""},
  };
  for (const Row& r : rows) {
    INFO(r.starts);
    Changes ch;
    auto got = st.Allocate(r.req, 0, ch);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == (r.starts.starts_with("lease_id: unknown") ? Code::kNotFound : Code::kInvalidArgument));
    CHECK_THAT(got.status().message(), Catch::StartsWith(r.starts));
    CHECK(ch.empty());
    CHECK(st.allocation_count() == 0);
  }
}

TEST_CASE("State: Register on an allocated port: same lease ok, other lease ALREADY_EXISTS", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st);
  uint64_t b = GrantLease(st);
  Changes ach;
  uint32_t port = *st.Allocate(AllocReq(a), 2, ach);
  REQUIRE(port == 10002);

  Changes other;
  auto clash = st.Register(Ep(b, "h1", port), kWall, other);
  REQUIRE_FALSE(clash.ok());
  CHECK(clash.status().code() == Code::kAlreadyExists);
  CHECK_THAT(clash.status().message(), Catch::StartsWith("endpoint.port: h1:10002 is live for another holder"));
  CHECK(other.empty());
  CHECK(st.revision() == 0);

  Changes ch;
  auto id = st.Register(Ep(a, "h1", port), kWall, ch);
  REQUIRE(id.ok());
  CHECK(*id == 1);
  CHECK(st.revision() == 1);
  REQUIRE(ch.events.size() == 1);
  const v1::Event& e = ch.events[0];
  CHECK(e.type() == v1::Event::ENDPOINT_PUT);
  CHECK(e.revision() == 1);
  CHECK(e.endpoint().id() == 1);
  CHECK(e.endpoint().revision() == 1);
  CHECK(e.endpoint().registered_unix_ms() == kWall);
  CHECK(e.endpoint().port() == port);
  CHECK(ch.endpoints == std::set<uint64_t>{1});
  CHECK(ch.allocations == std::set<PortKey>{{"h1", port}});
  CHECK(st.FindAllocation({"h1", port})->endpoint_id == 1);
  CHECK(st.allocation_count() == 1);

  // Registered: a retried Allocate for the same identity gets a new port.
  CHECK(*st.Allocate(AllocReq(a), 2, ach) == 10003);
  // The other lease still cannot take it, and neither can its allocator.
  CHECK(st.Register(Ep(b, "h1", port), kWall, other).status().code() == Code::kAlreadyExists);
  CHECK(*st.Allocate(AllocReq(b), 2, ach) == 10004);
}

TEST_CASE("State: explicit registration makes the port live, in or out of the range", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st);
  MustRegister(st, Ep(a, "h1", 10000));
  MustRegister(st, Ep(a, "h1", 80));
  Changes ch;
  CHECK(*st.Allocate(AllocReq(a, "h1", 5), 0, ch) == 10001);
  CHECK(st.allocation_count() == 3);
  CHECK(st.FindLease(a)->endpoints == std::set<uint64_t>{1, 2});
}

TEST_CASE("State: re-registering the same host:port updates in place", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st);
  uint64_t id = MustRegister(st, Ep(a, "h1", 10001, "web"), kWall);

  v1::Endpoint changed = Ep(a, "h1", 10001, "api", "beefbeef", "grpc");
  changed.set_health(v1::HEALTH_CRITICAL);
  changed.set_id(999);  // ignored
  Changes ch;
  auto again = st.Register(changed, kWall + 5'000, ch);
  REQUIRE(again.ok());
  CHECK(*again == id);
  CHECK(st.revision() == 2);
  CHECK(st.endpoint_count() == 1);
  const v1::Endpoint* ep = st.FindEndpoint(id);
  REQUIRE(ep != nullptr);
  CHECK(ep->registered_unix_ms() == kWall);
  CHECK(ep->revision() == 2);
  CHECK(ep->app() == "api");
  CHECK(ep->health() == v1::HEALTH_CRITICAL);
  REQUIRE(ch.events.size() == 1);
  CHECK(ch.events[0].endpoint().id() == id);
  CHECK(ch.events[0].endpoint().registered_unix_ms() == kWall);
  // The app index moved with it.
  CHECK(st.Query("web", "", "")->empty());
  REQUIRE(st.Query("api", "", "")->size() == 1);
  const Allocation* al = st.FindAllocation({"h1", 10001});
  CHECK(al->app == "api");
  CHECK(al->commit == "beefbeef");
  CHECK(al->role == "grpc");
}

TEST_CASE("State: Query by lease lists that lease's entries only", "[registry][state]") {
  RegistryState st(SmallRange());
  const uint64_t a = GrantLease(st), b = GrantLease(st);
  const uint64_t a1 = MustRegister(st, Ep(a, "h1", 10001, "web"), kWall);
  const uint64_t a2 = MustRegister(st, Ep(a, "h1", 10002, "api"), kWall);
  MustRegister(st, Ep(b, "h1", 10003, "web"), kWall);
  auto ids = [](const std::vector<v1::Endpoint>& eps) {
    std::set<uint64_t> out;
    for (const auto& ep : eps) out.insert(ep.id());
    return out;
  };
  CHECK(ids(*st.Query("", "", "", a)) == std::set<uint64_t>{a1, a2});
  CHECK(ids(*st.Query("web", "", "", a)) == std::set<uint64_t>{a1});
  CHECK(st.Query("", "", "", b)->size() == 1);
  CHECK(st.Query("", "", "").value().size() == 3);
  auto gone = st.Query("", "", "", 4242);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == Code::kNotFound);
}

TEST_CASE("State: Register rejects bad input and unknown leases without changing anything", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st);
  MustRegister(st, Ep(a, "h1", 10001));
  REQUIRE(st.revision() == 1);
  struct Row {
    v1::Endpoint ep;
    std::string starts;
  };
  const Row rows[] = {
      {Ep(42, "h1", 10002), "lease_id: unknown lease 42"},
      {Ep(0, "h1", 10002), "endpoint.lease_id: required"},
      {Ep(a, "h1", 10002, "Bad"), "endpoint.app: \"Bad\""},
      {Ep(a, "h1", 10002, "web", "xyz1"), "endpoint.commit: \"xyz1\""},
      {Ep(a, "h1", 10002, "web", "abcd", "r_1"), "endpoint.role: \"r_1\""},
      {Ep(a, "h1", 0), "endpoint.port: 0 is out of range"},
      {Ep(a, "h1", 65536), "endpoint.port: 65536 is out of range"},
      {Ep(a, "bad host", 10002), "endpoint.host: \"bad host\""},
      // An update with a bad field leaves the old entry alone.
      {Ep(a, "h1", 10001, "web", "ABCD"), "endpoint.commit: \"ABCD\""},
  };
  for (const Row& r : rows) {
    INFO(r.starts);
    Changes ch;
    auto got = st.Register(r.ep, kWall, ch);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == (r.starts.starts_with("lease_id: unknown") ? Code::kNotFound : Code::kInvalidArgument));
    CHECK_THAT(got.status().message(), Catch::StartsWith(r.starts));
    CHECK(ch.empty());
    CHECK(st.revision() == 1);
    CHECK(st.endpoint_count() == 1);
    CHECK(st.allocation_count() == 1);
    CHECK(st.FindEndpoint(1)->commit() == "abcdef01");
  }
}

}  // namespace
}  // namespace skyport::registry
