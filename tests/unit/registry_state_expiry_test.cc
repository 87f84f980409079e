// RegistryState: Deregister, lease expiry and queries.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "registry/state.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

TEST_CASE("State: Deregister frees the port for the next Allocate", "[registry][state]") {
  StateOptions o = SmallRange();
  o.port_hi = o.port_lo;  // a single port
  RegistryState st(o);
  uint64_t a = GrantLease(st);
  uint64_t b = GrantLease(st);
  Changes ch;
  REQUIRE(*st.Allocate(AllocReq(a), 0, ch) == 10000);
  uint64_t id = MustRegister(st, Ep(a, "h1", 10000));
  CHECK(st.Allocate(AllocReq(b), 0, ch).status().code() == Code::kResourceExhausted);

  Changes dch;
  REQUIRE(st.Deregister(id, dch).ok());
  CHECK(st.revision() == 2);
  REQUIRE(dch.events.size() == 1);
  CHECK(dch.events[0].type() == v1::Event::ENDPOINT_DELETE);
  CHECK(dch.events[0].revision() == 2);
  CHECK(dch.events[0].endpoint().id() == id);
  CHECK(dch.events[0].endpoint().app() == "web");
  CHECK(dch.events[0].endpoint().revision() == 2);
  CHECK(dch.endpoints == std::set<uint64_t>{id});
  CHECK(dch.allocations == std::set<PortKey>{{"h1", 10000}});
  CHECK(st.FindEndpoint(id) == nullptr);
  CHECK(st.FindLease(a)->endpoints.empty());
  CHECK(st.FindLease(a)->allocations.empty());

  Changes again;
  CHECK(*st.Allocate(AllocReq(b), 0, again) == 10000);
  Changes nf;
  Status s = st.Deregister(id, nf);
  CHECK(s.code() == Code::kNotFound);
  CHECK(nf.empty());
  CHECK(st.revision() == 2);
}

TEST_CASE("State: a ttl-0 lease ends with its last entry", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t forever = GrantLease(st, 0);
  uint64_t timed = GrantLease(st, 10);
  uint64_t with_alloc = GrantLease(st, 0);
  uint64_t e1 = MustRegister(st, Ep(forever, "h1", 1));
  uint64_t e2 = MustRegister(st, Ep(forever, "h1", 2));
  uint64_t e3 = MustRegister(st, Ep(timed, "h1", 3));
  uint64_t e4 = MustRegister(st, Ep(with_alloc, "h1", 4));
  Changes ach;
  REQUIRE(st.Allocate(AllocReq(with_alloc, "h1", 9), 0, ach).ok());

  struct Step {
    uint64_t id;
    uint64_t lease;
    bool lease_gone;
  };
  const Step steps[] = {
      {e1, forever, false},    // e2 still holds it
      {e2, forever, true},     // last entry
      {e3, timed, false},      // a ttl lease waits for its expiry
      {e4, with_alloc, false}, // a pending allocation still holds it
  };
  for (const Step& s : steps) {
    INFO("deregister " << s.id);
    Changes ch;
    REQUIRE(st.Deregister(s.id, ch).ok());
    CHECK((st.FindLease(s.lease) == nullptr) == s.lease_gone);
    CHECK(ch.leases == (s.lease_gone ? std::set<uint64_t>{s.lease} : std::set<uint64_t>{}));
    CHECK(ch.events.size() == 1);
  }
  CHECK(st.lease_count() == 2);
  Changes ch;
  CHECK_THAT(st.Register(Ep(forever, "h1", 1), kWall, ch).status().message(), Catch::StartsWith("lease_id:"));
}

TEST_CASE("State: ExpireLeases removes all of a lease at once, in one revision", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st, 10);
  uint64_t b = GrantLease(st, 20);
  uint64_t forever = GrantLease(st, 0);
  MustRegister(st, Ep(a, "h1", 10001));
  MustRegister(st, Ep(a, "h2", 10001));
  Changes ch;
  uint32_t pending = *st.Allocate(AllocReq(a, "h1", 7), 5, ch);
  uint64_t kept = MustRegister(st, Ep(b, "h1", 10002));
  MustRegister(st, Ep(forever, "h3", 10001));
  REQUIRE(st.revision() == 4);
  CHECK(st.NextExpiryMs() == kT0 + 10'000);

  Changes early;
  CHECK(st.ExpireLeases(kT0 + 9'999, early) == 0);
  CHECK(early.empty());

  Changes exp;
  CHECK(st.ExpireLeases(kT0 + 10'000, exp) == 1);
  CHECK(st.revision() == 5);
  REQUIRE(exp.events.size() == 2);
  for (const auto& e : exp.events) {
    CHECK(e.type() == v1::Event::ENDPOINT_DELETE);
    CHECK(e.revision() == 5);
  }
  CHECK(exp.endpoints == std::set<uint64_t>{1, 2});
  CHECK(exp.leases == std::set<uint64_t>{a});
  CHECK(exp.allocations == std::set<PortKey>{{"h1", 10001}, {"h2", 10001}, {"h1", pending}});
  CHECK(st.endpoint_count() == 2);
  CHECK(st.allocation_count() == 2);
  CHECK(st.FindEndpoint(kept) != nullptr);
  CHECK(st.KeepAlive(a, kT0 + 10'000).status().code() == Code::kNotFound);
  CHECK(st.Register(Ep(a, "h1", 10001), kWall, ch).status().code() == Code::kNotFound);
  // Freed ports can be handed out again; b's port is still live.
  CHECK(*st.Allocate(AllocReq(b, "h1", 1), 1, ch) == 10001);
  CHECK(*st.Allocate(AllocReq(b, "h1", 2), 2, ch) == 10003);

  Changes later;
  CHECK(st.ExpireLeases(kT0 + 1'000'000, later) == 1);
  CHECK(st.revision() == 6);
  CHECK(st.endpoint_count() == 1);  // the ttl-0 entry stays
  CHECK(st.lease_count() == 1);
  CHECK_FALSE(st.NextExpiryMs().has_value());
}

TEST_CASE("State: Query by app, commit prefix and role", "[registry][state]") {
  RegistryState st(SmallRange());
  uint64_t a = GrantLease(st, 0);
  MustRegister(st, Ep(a, "h1", 1, "web", "aaaa1111", "http"));   // id 1
  MustRegister(st, Ep(a, "h1", 2, "web", "aaaa2222", "grpc"));   // id 2
  MustRegister(st, Ep(a, "h1", 3, "web", "bbbb1111", "http"));   // id 3
  MustRegister(st, Ep(a, "h1", 4, "api", "aaaa1111", "http"));   // id 4
  struct Row {
    std::string app, prefix, role;
    std::set<uint64_t> want;
  };
  const Row rows[] = {
      {"", "", "", {1, 2, 3, 4}},
      {"web", "", "", {1, 2, 3}},
      {"api", "", "", {4}},
      {"nope", "", "", {}},
      {"", "aaaa", "", {1, 2, 4}},
      {"", "aaaa1", "", {1, 4}},
      {"", "aaaa1111", "", {1, 4}},
      {"", "aaaa11111", "", {}},
      {"web", "a", "", {1, 2}},
      {"", "", "http", {1, 3, 4}},
      {"web", "", "grpc", {2}},
      {"web", "b", "http", {3}},
      {"api", "b", "", {}},
  };
  for (const Row& r : rows) {
    INFO("app=" << r.app << " prefix=" << r.prefix << " role=" << r.role);
    auto got = st.Query(r.app, r.prefix, r.role);
    REQUIRE(got.ok());
    std::set<uint64_t> ids;
    for (const auto& ep : *got) ids.insert(ep.id());
    CHECK(ids == r.want);
    CHECK(ids.size() == got->size());
  }
  CHECK_THAT(st.Query("Web", "", "").status().message(), Catch::StartsWith("app:"));
  CHECK_THAT(st.Query("", "XYZ", "").status().message(), Catch::StartsWith("commit_prefix:"));
  CHECK_THAT(st.Query("", "", "-r").status().message(), Catch::StartsWith("role:"));
}

}  // namespace
}  // namespace skyport::registry

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

TEST_CASE("State: ReleasePort frees an unregistered allocation of the same lease", "[registry][state]") {
  StateOptions o = SmallRange();
  o.port_hi = o.port_lo;  // a single port
  RegistryState st(o);
  uint64_t lease = GrantLease(st);
  uint64_t other = GrantLease(st);
  Changes ch;
  auto port = st.Allocate(AllocReq(lease), 0, ch);
  REQUIRE(port.ok());
  Changes c1;
  CHECK(st.ReleasePort("h1", *port, other, c1).code() == Code::kNotFound);
  CHECK(c1.empty());
  // While an entry sits on it, the port is the entry's.
  MustRegister(st, Ep(lease, "h1", *port));
  Changes c2;
  CHECK(st.ReleasePort("h1", *port, lease, c2).code() == Code::kFailedPrecondition);
  // Re-allocate on a fresh lease after the entry goes.
  RegistryState st2(o);
  uint64_t l2 = GrantLease(st2);
  Changes c3;
  auto p2 = st2.Allocate(AllocReq(l2), 0, c3);
  REQUIRE(p2.ok());
  Changes c4;
  REQUIRE(st2.ReleasePort("h1", *p2, l2, c4).ok());
  CHECK(c4.allocations.count({"h1", *p2}) == 1);
  CHECK(st2.FindAllocation({"h1", *p2}) == nullptr);
  CHECK(st2.FindLease(l2)->allocations.empty());
  // The single port is free again, for another instance.
  Changes c5;
  auto again = st2.Allocate(AllocReq(l2, "h1", 1), 0, c5);
  REQUIRE(again.ok());
  CHECK(*again == *p2);
  Changes c6;
  CHECK(st2.ReleasePort("h1", 0, l2, c6).code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace skyport::registry
