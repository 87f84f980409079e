// The registry's rules as etcd transactions (registry/etcd_plans.h): what each
// Txn compares and writes, and how its answer reads; the refusals match
// RegistryState's word for word.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "registry/etcd_plans.h"
#include "registry/snapshot_chunker.h"
#include "registry/state.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

const EtcdKeys kKeys("/sky/");

using Cmp = etcdpb::Compare;

void CheckCompare(const Cmp& c, const std::string& key, Cmp::CompareTarget target, Cmp::CompareResult result,
                  int64_t v) {
  INFO(key);
  CHECK(c.key() == key);
  CHECK(c.target() == target);
  CHECK(c.result() == result);
  switch (target) {
    case Cmp::CREATE: CHECK(c.create_revision() == v); break;
    case Cmp::MOD: CHECK(c.mod_revision() == v); break;
    case Cmp::LEASE: CHECK(c.lease() == v); break;
    default: FAIL("unexpected target");
  }
}

mvccpb::KeyValue Kv(const std::string& key, const std::string& value, int64_t mod, int64_t lease = 0) {
  mvccpb::KeyValue kv;
  kv.set_key(key);
  kv.set_value(value);
  kv.set_mod_revision(mod);
  kv.set_lease(lease);
  return kv;
}

// A failed Txn's answer whose Else ranges found `found` (one entry per range; nullopt = nothing).
etcdpb::TxnResponse Failed(const std::vector<std::optional<mvccpb::KeyValue>>& found) {
  etcdpb::TxnResponse r;
  r.set_succeeded(false);
  r.mutable_header()->set_revision(500);
  for (const auto& kv : found) {
    auto* range = r.add_responses()->mutable_response_range();
    if (kv) *range->add_kvs() = *kv;
  }
  return r;
}

Versioned<Allocation> Held(uint32_t port, uint64_t lease, uint32_t instance, uint64_t endpoint_id = 0,
                           int64_t mod = 9) {
  return {Allocation{"h1", port, lease, "web", "abcdef01", "http", instance, endpoint_id}, mod};
}

TEST_CASE("etcd plans: Allocate decides as RegistryState does", "[registry][etcd-map]") {
  v1::AllocateRequest req = AllocReq(7, "h1", 0);
  SECTION("a retried Allocate gets the port it already holds, unregistered and same identity") {
    auto d = DecideAllocate(req, {Held(10001, 7, 1), Held(10002, 7, 0, /*endpoint=*/5), Held(10003, 7, 0)}, {});
    CHECK(d.kind == AllocateDecision::kAnswer);
    CHECK(d.port == 10003);
  }
  SECTION("a held port the holder avoids is dropped with the next pick") {
    req.add_avoid(10003);
    auto d = DecideAllocate(req, {Held(10003, 7, 0, 0, 33)}, {});
    CHECK(d.kind == AllocateDecision::kPick);
    REQUIRE(d.drop);
    CHECK(d.drop->value.port == 10003);
    CHECK(d.drop->mod_revision == 33);
  }
  SECTION("nothing held: pick") {
    auto d = DecideAllocate(req, {}, {});
    CHECK(d.kind == AllocateDecision::kPick);
    CHECK(!d.drop);
  }
  SECTION("a specific port: free, mine, or another holder's (the same refusal as the state's)") {
    req.set_port(10005);
    auto free = DecideAllocate(req, {}, {});
    CHECK((free.kind == AllocateDecision::kReserve && free.port == 10005));
    auto mine = DecideAllocate(req, {}, Held(10005, 7, 0).value);
    CHECK((mine.kind == AllocateDecision::kAnswer && mine.port == 10005));
    Allocation theirs = Held(10005, 8, 0).value;
    auto refused = DecideAllocate(req, {}, theirs);
    CHECK(refused.kind == AllocateDecision::kRefuse);

    RegistryState st(SmallRange());
    const uint64_t l1 = GrantLease(st), l2 = GrantLease(st);
    Changes ch;
    v1::AllocateRequest first = AllocReq(l1, "h1");
    first.set_port(10005);
    REQUIRE(st.Allocate(first, 0, ch).ok());
    v1::AllocateRequest second = AllocReq(l2, "h1");
    second.set_port(10005);
    auto want = st.Allocate(second, 0, ch);
    theirs.lease_id = l1;
    CHECK(DecideAllocate(second, {}, theirs).error.ToString() == want.status().ToString());
  }
}

TEST_CASE("etcd plans: candidate ports stay in range and step past avoided ones", "[registry][etcd-map]") {
  CHECK(CandidatePort(10000, 10009, 3, {}) == 10003);
  CHECK(CandidatePort(10000, 10009, 13, {}) == 10003);
  CHECK(CandidatePort(10000, 10009, 3, {10003, 10004}) == 10005);
  CHECK(CandidatePort(10000, 10009, 9, {10009}) == 10000);  // wraps
  CHECK(CandidatePort(10000, 10001, 0, {10000, 10001}) == 0);
  CHECK(CandidatePort(80, 80, 12345, {}) == 80);
}

TEST_CASE("etcd plans: reserving a port is create-if-absent under a live lease", "[registry][etcd-map]") {
  Allocation a = AllocationFor(AllocReq(7, "h1", 2), 10004);
  CHECK((a.host == "h1" && a.port == 10004 && a.lease_id == 7 && a.instance == 2 && a.endpoint_id == 0));
  const std::string index = kKeys.Unregistered(a);
  CHECK(index == "/sky/registry/unreg/0000000000000007/h1/web/abcdef01/http/2");
  SECTION("an explicit port: the identity index is written, whatever it held") {
    etcdpb::TxnRequest t = ReservePortTxn(kKeys, a, {});
    REQUIRE(t.compare_size() == 2);
    CheckCompare(t.compare(0), kKeys.Lease(7), Cmp::CREATE, Cmp::GREATER, 0);
    CheckCompare(t.compare(1), kKeys.Port("h1", 10004), Cmp::CREATE, Cmp::EQUAL, 0);
    REQUIRE(t.success_size() == 2);
    const auto& put = t.success(0).request_put();
    CHECK(put.key() == kKeys.Port("h1", 10004));
    CHECK(put.lease() == 7);  // the port goes when the lease does
    auto back = DecodeAllocation(kKeys, Kv(put.key(), put.value(), 1, put.lease()));
    REQUIRE(back.ok());
    CHECK((back->app == "web" && back->instance == 2 && back->endpoint_id == 0));
    const auto& put_index = t.success(1).request_put();
    CHECK(put_index.key() == index);
    CHECK(put_index.lease() == 7);
    auto held = DecodeUnregistered(kKeys, Kv(put_index.key(), put_index.value(), 1, put_index.lease()));
    REQUIRE(held.ok());
    CHECK((held->port == 10004 && held->app == "web" && held->instance == 2));
    REQUIRE(t.failure_size() == 3);
    CHECK(t.failure(0).request_range().key() == kKeys.Lease(7));
    CHECK(t.failure(1).request_range().key() == kKeys.Port("h1", 10004));
    CHECK(t.failure(2).request_range().key() == index);
  }
  SECTION("a pick: the identity index must be as read (absent, or the stale one at its revision)") {
    etcdpb::TxnRequest fresh = ReservePortTxn(kKeys, a, {}, 0);
    REQUIRE(fresh.compare_size() == 3);
    CheckCompare(fresh.compare(2), index, Cmp::CREATE, Cmp::EQUAL, 0);
    etcdpb::TxnRequest stale = ReservePortTxn(kKeys, a, {}, 33);
    CheckCompare(stale.compare(2), index, Cmp::MOD, Cmp::EQUAL, 33);
  }
  SECTION("with a stale allocation to drop, only if unchanged") {
    etcdpb::TxnRequest t = ReservePortTxn(kKeys, a, Held(10003, 7, 0, 0, 41), 40);
    REQUIRE(t.compare_size() == 4);
    CheckCompare(t.compare(2), kKeys.Port("h1", 10003), Cmp::MOD, Cmp::EQUAL, 41);
    CheckCompare(t.compare(3), index, Cmp::MOD, Cmp::EQUAL, 40);
    REQUIRE(t.success_size() == 3);
    CHECK(t.success(1).request_put().key() == index);  // now names the new port
    CHECK(t.success(2).request_delete_range().key() == kKeys.Port("h1", 10003));
  }
  SECTION("why a reservation missed") {
    const auto lease_kv = Kv(kKeys.Lease(7), EncodeLease(7, 10), 2, 7);
    const auto port_kv = Kv(kKeys.Port("h1", 10004), EncodeAllocation(a), 3, 8);
    const auto index_kv = Kv(index, EncodeAllocation(AllocationFor(AllocReq(7, "h1", 2), 10009)), 5, 7);
    CHECK(ReadReserveMiss(Failed({std::nullopt, std::nullopt, std::nullopt})) == ReserveMiss::kLeaseGone);
    CHECK(ReadReserveMiss(Failed({lease_kv, port_kv, std::nullopt})) == ReserveMiss::kPortTaken);
    CHECK(ReadReserveMiss(Failed({lease_kv, std::nullopt, std::nullopt})) == ReserveMiss::kChanged);
    CHECK(ReadReserveMiss(Failed({lease_kv, port_kv, index_kv}), 0) == ReserveMiss::kIndexChanged);
    CHECK(ReadReserveMiss(Failed({lease_kv, port_kv, index_kv}), 4) == ReserveMiss::kIndexChanged);
    CHECK(ReadReserveMiss(Failed({lease_kv, port_kv, index_kv}), 5) == ReserveMiss::kPortTaken);
    CHECK(ReadReserveMiss(Failed({lease_kv, port_kv, std::nullopt}), 5) == ReserveMiss::kIndexChanged);
    auto read = ReadIndexAfterMiss(kKeys, Failed({lease_kv, port_kv, index_kv}));
    REQUIRE(read.ok());
    REQUIRE(read->has_value());
    CHECK(((*read)->value.port == 10009 && (*read)->mod_revision == 5));
    CHECK_FALSE(ReadIndexAfterMiss(kKeys, Failed({lease_kv, port_kv, std::nullopt}))->has_value());
    // An index copied under another identity's key is refused, never trusted.
    const auto wrong = Kv(kKeys.Unregistered(AllocationFor(AllocReq(7, "h1", 3), 10009)), index_kv.value(), 5, 7);
    CHECK(ReadIndexAfterMiss(kKeys, Failed({lease_kv, port_kv, wrong})).status().code() == Code::kDataLoss);
  }
}

TEST_CASE("etcd keys: the identity index parses only in its exact shape", "[registry][etcd-map]") {
  const Allocation a = AllocationFor(AllocReq(7, "h1", 12), 10004);
  ParsedKey k = kKeys.Parse(kKeys.Unregistered(a));
  CHECK(k.kind == KeyKind::kUnregistered);
  CHECK((k.id == 7 && k.host == "h1" && k.app == "web"));
  const std::string base = "/sky/registry/unreg/0000000000000007/h1/web/abcdef01/http/";
  for (const std::string& bad : {base, base + "012", base + "1/2", base + "x", base + "-1", base + "99999999999",
                                std::string("/sky/registry/unreg/0000000000000007/h1/web/abcdef01/http"),
                                std::string("/sky/registry/unreg/0000000000000000/h1/web/abcdef01/http/1"),
                                std::string("/sky/registry/unreg/0000000000000007/h1/Web/abcdef01/http/1"),
                                std::string("/sky/registry/unreg/0000000000000007/h1/web/xyz/http/1")}) {
    INFO(bad);
    CHECK(kKeys.Parse(bad).kind == KeyKind::kOther);
  }
}

TEST_CASE("etcd plans: Register writes the entry and its port under the lease, or refuses as the state does",
          "[registry][etcd-map]") {
  const v1::Endpoint in = Ep(7, "h1", 10004);
  etcdpb::TxnRequest read_txn = RegisterReadTxn(kKeys, in);
  REQUIRE(read_txn.success_size() == 2);
  CHECK(read_txn.success(0).request_range().key() == kKeys.Lease(7));
  CHECK(read_txn.success(1).request_range().key() == kKeys.Port("h1", 10004));

  SECTION("a new entry on a free port") {
    RegisterRead read;
    read.lease_live = true;
    auto plan = PlanRegister(kKeys, in, read, /*new_id=*/77, kWall);
    REQUIRE(plan.ok());
    CHECK(plan->id == 77);
    const auto& t = plan->txn;
    REQUIRE(t.compare_size() == 3);
    CheckCompare(t.compare(0), kKeys.Lease(7), Cmp::CREATE, Cmp::GREATER, 0);
    CheckCompare(t.compare(1), kKeys.Port("h1", 10004), Cmp::CREATE, Cmp::EQUAL, 0);
    CheckCompare(t.compare(2), kKeys.Endpoint(77), Cmp::CREATE, Cmp::EQUAL, 0);  // ids never reused
    REQUIRE(t.success_size() == 2);
    auto ep = DecodeEndpoint(kKeys, Kv(t.success(0).request_put().key(), t.success(0).request_put().value(), 60,
                                       t.success(0).request_put().lease()));
    REQUIRE(ep.ok());
    CHECK((ep->id() == 77 && ep->registered_unix_ms() == kWall && ep->revision() == 60));
    auto a = DecodeAllocation(kKeys, Kv(t.success(1).request_put().key(), t.success(1).request_put().value(), 60,
                                        t.success(1).request_put().lease()));
    REQUIRE(a.ok());
    CHECK((a->endpoint_id == 77 && a->app == "web"));
  }
  SECTION("again on the same port by the same holder: an update, same id and first registration time") {
    RegisterRead read;
    read.lease_live = true;
    read.alloc = Versioned<Allocation>{Allocation{"h1", 10004, 7, "web", "abcdef01", "http", 0, 12}, 50};
    v1::Endpoint old = in;
    old.set_id(12);
    old.set_registered_unix_ms(kWall - 5000);
    read.old = Versioned<v1::Endpoint>{old, 51};
    auto plan = PlanRegister(kKeys, in, read, 77, kWall);
    REQUIRE(plan.ok());
    CHECK(plan->id == 12);
    CheckCompare(plan->txn.compare(1), kKeys.Port("h1", 10004), Cmp::MOD, Cmp::EQUAL, 50);
    CheckCompare(plan->txn.compare(2), kKeys.Endpoint(12), Cmp::MOD, Cmp::EQUAL, 51);
    v1::Endpoint written;
    REQUIRE(written.ParseFromString(plan->txn.success(0).request_put().value()));
    CHECK(written.registered_unix_ms() == kWall - 5000);
  }
  SECTION("on a port this lease reserved: the reservation becomes the entry's") {
    RegisterRead read;
    read.lease_live = true;
    read.alloc = Versioned<Allocation>{Allocation{"h1", 10004, 7, "web", "abcdef01", "http", 0, 0}, 50};
    auto plan = PlanRegister(kKeys, in, read, 78, kWall);
    REQUIRE(plan.ok());
    CHECK(plan->id == 78);
    CheckCompare(plan->txn.compare(2), kKeys.Endpoint(78), Cmp::CREATE, Cmp::EQUAL, 0);
    // The reservation's identity index goes with it (while it names this port).
    REQUIRE(plan->txn.success_size() == 3);
    const auto& drop_index = plan->txn.success(2).request_txn();
    CHECK(drop_index.compare(0).key() == kKeys.Unregistered(read.alloc->value));
    CHECK(drop_index.compare(0).value() == EncodeAllocation(read.alloc->value));
    CHECK(drop_index.success(0).request_delete_range().key() == kKeys.Unregistered(read.alloc->value));
  }
  SECTION("in one round trip: what the read-then-write path would write, on a free port or on the lease's "
          "fresh allocation") {
    etcdpb::TxnRequest one = OneTripRegisterTxn(kKeys, in, 79, kWall);
    RegisterRead free_port;
    free_port.lease_live = true;
    auto plan = PlanRegister(kKeys, in, free_port, 79, kWall);
    REQUIRE(plan.ok());
    REQUIRE(one.compare_size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(one.compare(i).SerializeAsString() == plan->txn.compare(i).SerializeAsString());
    REQUIRE(one.success_size() == 2);
    for (int i = 0; i < 2; ++i) CHECK(one.success(i).SerializeAsString() == plan->txn.success(i).SerializeAsString());

    // The failure branch: the port exactly as Allocate reserved it for this lease and identity.
    v1::AllocateRequest req;
    req.set_host("h1");
    req.set_app(in.app());
    req.set_commit(in.commit());
    req.set_role(in.role());
    req.set_instance(in.instance());
    req.set_lease_id(7);
    const Allocation reserved = AllocationFor(req, 10004);
    etcdpb::TxnRequest reserve = ReservePortTxn(kKeys, reserved, std::nullopt);
    REQUIRE(one.failure_size() == 1);
    const auto& on_alloc = one.failure(0).request_txn();
    REQUIRE(on_alloc.compare_size() == 4);
    CheckCompare(on_alloc.compare(0), kKeys.Lease(7), Cmp::CREATE, Cmp::GREATER, 0);
    CHECK(on_alloc.compare(1).key() == kKeys.Port("h1", 10004));
    CHECK(on_alloc.compare(1).target() == Cmp::VALUE);
    CHECK(on_alloc.compare(1).result() == Cmp::EQUAL);
    CHECK(on_alloc.compare(1).value() == reserve.success(0).request_put().value());
    CheckCompare(on_alloc.compare(2), kKeys.Port("h1", 10004), Cmp::LEASE, Cmp::EQUAL, 7);
    CheckCompare(on_alloc.compare(3), kKeys.Endpoint(79), Cmp::CREATE, Cmp::EQUAL, 0);
    RegisterRead on_reserved;
    on_reserved.lease_live = true;
    on_reserved.alloc = Versioned<Allocation>{reserved, 50};
    auto plan2 = PlanRegister(kKeys, in, on_reserved, 79, kWall);
    REQUIRE(plan2.ok());
    REQUIRE(on_alloc.success_size() == 3);
    REQUIRE(plan2->txn.success_size() == 3);
    for (int i = 0; i < 3; ++i)
      CHECK(on_alloc.success(i).SerializeAsString() == plan2->txn.success(i).SerializeAsString());
    CHECK(on_alloc.success(2).request_txn().success(0).request_delete_range().key() == kKeys.Unregistered(reserved));

    etcdpb::TxnResponse r;
    CHECK_FALSE(OneTripRegistered(r));
    r.set_succeeded(true);
    CHECK(OneTripRegistered(r));
    r.set_succeeded(false);
    r.add_responses()->mutable_response_txn()->set_succeeded(false);
    CHECK_FALSE(OneTripRegistered(r));
    r.mutable_responses(0)->mutable_response_txn()->set_succeeded(true);
    CHECK(OneTripRegistered(r));
  }
  SECTION("refusals, word for word the state's") {
    RegistryState st(SmallRange());
    const uint64_t l1 = GrantLease(st), l2 = GrantLease(st);
    MustRegister(st, Ep(l1, "h1", 10004));
    Changes ch;
    auto taken = st.Register(Ep(l2, "h1", 10004), kWall, ch);
    auto unknown = st.Register(Ep(99, "h1", 10005), kWall, ch);

    RegisterRead read;
    read.lease_live = true;
    read.alloc = Versioned<Allocation>{Allocation{"h1", 10004, l1, "web", "abcdef01", "http", 0, 1}, 50};
    CHECK(PlanRegister(kKeys, Ep(l2, "h1", 10004), read, 5, kWall).status().ToString() ==
          taken.status().ToString());
    RegisterRead gone;
    CHECK(PlanRegister(kKeys, Ep(99, "h1", 10005), gone, 5, kWall).status().ToString() ==
          unknown.status().ToString());
  }
  SECTION("the read, decoded; a corrupt allocation is DATA_LOSS") {
    etcdpb::TxnResponse r;
    r.set_succeeded(true);
    *r.add_responses()->mutable_response_range()->add_kvs() = Kv(kKeys.Lease(7), EncodeLease(7, 10), 2, 7);
    *r.add_responses()->mutable_response_range()->add_kvs() =
        Kv(kKeys.Port("h1", 10004), EncodeAllocation(Allocation{"h1", 10004, 7, "web", "abcdef01", "http", 0, 0}),
           5, 7);
    auto read = ParseRegisterRead(kKeys, r);
    REQUIRE(read.ok());
    CHECK(read->lease_live);
    REQUIRE(read->alloc);
    CHECK(read->alloc->mod_revision == 5);
    r.mutable_responses(1)->mutable_response_range()->mutable_kvs(0)->set_lease(8);
    CHECK(ParseRegisterRead(kKeys, r).status().code() == Code::kDataLoss);
  }
}

TEST_CASE("etcd plans: Deregister and ReleasePort", "[registry][etcd-map]") {
  v1::Endpoint ep = Ep(7, "h1", 10004);
  ep.set_id(12);
  const Allocation carries{"h1", 10004, 7, "web", "abcdef01", "http", 0, 12};
  etcdpb::TxnRequest t = DeregisterTxn(kKeys, {ep, 61}, Versioned<Allocation>{carries, 58});
  REQUIRE(t.compare_size() == 1);
  CheckCompare(t.compare(0), kKeys.Endpoint(12), Cmp::MOD, Cmp::EQUAL, 61);
  REQUIRE(t.success_size() == 2);
  CHECK(t.success(0).request_delete_range().key() == kKeys.Endpoint(12));
  // The port is deleted only while it is still this lease's and unchanged since it was read.
  const auto& port = t.success(1).request_txn();
  REQUIRE(port.compare_size() == 2);
  CheckCompare(port.compare(0), kKeys.Port("h1", 10004), Cmp::MOD, Cmp::EQUAL, 58);
  CheckCompare(port.compare(1), kKeys.Port("h1", 10004), Cmp::LEASE, Cmp::EQUAL, 7);
  CHECK(port.success(0).request_delete_range().key() == kKeys.Port("h1", 10004));
  CHECK(t.failure(0).request_range().key() == kKeys.Endpoint(12));
  // A port that carries another entry (one registered after a restore brought this one back), no
  // port, or another lease's port: only the entry goes.
  Allocation other = carries;
  other.endpoint_id = 13;
  Allocation theirs = carries;
  theirs.lease_id = 8;
  for (const auto& p : {std::optional<Versioned<Allocation>>{Versioned<Allocation>{other, 58}},
                        std::optional<Versioned<Allocation>>{},
                        std::optional<Versioned<Allocation>>{Versioned<Allocation>{theirs, 58}}}) {
    etcdpb::TxnRequest only = DeregisterTxn(kKeys, {ep, 61}, p);
    REQUIRE(only.success_size() == 1);
    CHECK(only.success(0).request_delete_range().key() == kKeys.Endpoint(12));
  }

  RegistryState st(SmallRange());
  const uint64_t l1 = GrantLease(st);
  const uint64_t id = MustRegister(st, Ep(l1, "h1", 10004));
  Changes ch;
  CHECK(CheckRelease(Allocation{"h1", 10004, l1, "web", "abcdef01", "http", 0, id}, "h1", 10004, l1).ToString() ==
        st.ReleasePort("h1", 10004, l1, ch).ToString());
  CHECK(CheckRelease(std::nullopt, "h1", 10009, l1).ToString() == st.ReleasePort("h1", 10009, l1, ch).ToString());
  CHECK(CheckRelease(Allocation{"h1", 10004, l1, "web", "abcdef01", "http", 0, 0}, "h1", 10004, l1 + 1).code() ==
        Code::kNotFound);
  CHECK(CheckRelease(Allocation{"h1", 10004, l1, "web", "abcdef01", "http", 0, 0}, "h1", 10004, l1).ok());
  const Allocation unregistered{"h1", 10004, l1, "web", "abcdef01", "http", 0, 0};
  etcdpb::TxnRequest rel = ReleaseTxn(kKeys, unregistered, 70);
  CheckCompare(rel.compare(0), kKeys.Port("h1", 10004), Cmp::MOD, Cmp::EQUAL, 70);
  CHECK(rel.success(0).request_delete_range().key() == kKeys.Port("h1", 10004));
  // Its identity index goes too, only while it names this port.
  REQUIRE(rel.success_size() == 2);
  const auto& drop_index = rel.success(1).request_txn();
  REQUIRE(drop_index.compare_size() == 1);
  CHECK(drop_index.compare(0).key() == kKeys.Unregistered(unregistered));
  CHECK(drop_index.compare(0).target() == Cmp::VALUE);
  CHECK(drop_index.compare(0).value() == EncodeAllocation(unregistered));
  CHECK(drop_index.success(0).request_delete_range().key() == kKeys.Unregistered(unregistered));
}

TEST_CASE("etcd plans: route compare-and-swap on the key's mod_revision", "[registry][etcd-map]") {
  v1::RouteConfig r;
  r.set_app("web");
  (*r.mutable_weights())["abcdef01"] = 100;
  r.set_revision(3);
  CHECK(PutRouteTxn(kKeys, r, std::nullopt).compare_size() == 0);
  etcdpb::TxnRequest create = PutRouteTxn(kKeys, r, 0);
  CheckCompare(create.compare(0), kKeys.Route("web"), Cmp::CREATE, Cmp::EQUAL, 0);
  etcdpb::TxnRequest swap = PutRouteTxn(kKeys, r, 40);
  CheckCompare(swap.compare(0), kKeys.Route("web"), Cmp::MOD, Cmp::EQUAL, 40);
  CHECK(swap.success(0).request_put().lease() == 0);  // routes outlive every lease
  v1::RouteConfig stored;
  REQUIRE(stored.ParseFromString(swap.success(0).request_put().value()));
  CHECK(stored.revision() == 0);

  etcdpb::TxnRequest del = DeleteRouteTxn(kKeys, "web", 40);
  REQUIRE(del.compare_size() == 2);
  CheckCompare(del.compare(0), kKeys.Route("web"), Cmp::CREATE, Cmp::GREATER, 0);
  CheckCompare(del.compare(1), kKeys.Route("web"), Cmp::MOD, Cmp::EQUAL, 40);

  etcdpb::TxnResponse ok;
  ok.set_succeeded(true);
  ok.mutable_header()->set_revision(41);
  CHECK(*RouteTxnOutcome("web", 40, false, ok) == 41);

  // Refusals as RegistryState gives them.
  RegistryState st(SmallRange());
  Changes ch;
  v1::RouteConfig fresh = r;
  fresh.clear_revision();
  const int64_t rev = *st.PutRoute(fresh, 0, ch);
  const auto at_rev = Kv(kKeys.Route("web"), EncodeRoute(fresh), rev);
  CHECK(RouteTxnOutcome("web", 0, false, Failed({at_rev})).status().ToString() ==
        st.PutRoute(fresh, 0, ch).status().ToString());
  CHECK(RouteTxnOutcome("web", rev + 5, true, Failed({at_rev})).status().ToString() ==
        st.DeleteRoute("web", rev + 5, ch).status().ToString());
  CHECK(RouteTxnOutcome("shop", std::nullopt, true, Failed({std::nullopt})).status().ToString() ==
        st.DeleteRoute("shop", std::nullopt, ch).status().ToString());
  CHECK(RouteTxnOutcome("shop", 9, false, Failed({std::nullopt})).status().code() == Code::kFailedPrecondition);
}

TEST_CASE("etcd plans: leases", "[registry][etcd-map]") {
  CHECK(EtcdTtl(0) == kStaticLeaseTtl);
  CHECK(EtcdTtl(30) == 30);
  etcdpb::TxnRequest g = GrantTxn(kKeys, 7, 30);
  CheckCompare(g.compare(0), kKeys.Lease(7), Cmp::CREATE, Cmp::EQUAL, 0);
  CHECK(g.success(0).request_put().lease() == 7);

  CHECK(*KeepAliveOutcome(7, 30, 86400) == 30);
  CHECK(*KeepAliveOutcome(7, kStaticLeaseTtl, 86400) == 0);
  RegistryState st(SmallRange());
  CHECK(KeepAliveOutcome(7, -1, 86400).status().ToString() == st.KeepAlive(7, kT0).status().ToString());
  CHECK(KeepAliveOutcome(7, 0, 86400).status().code() == Code::kNotFound);

  // A static lease ends in two steps (etcd_plans.h): the record goes only if
  // unchanged, and comes back only if still absent, with the lease attached.
  etcdpb::TxnRequest retire = RetireLeaseRecordTxn(kKeys, 7, 42);
  CheckCompare(retire.compare(0), kKeys.Lease(7), Cmp::MOD, Cmp::EQUAL, 42);
  CHECK(retire.success(0).request_delete_range().key() == kKeys.Lease(7));
  CHECK(retire.failure_size() == 0);
  etcdpb::TxnRequest back = RestoreLeaseTxn(kKeys, 7);
  CheckCompare(back.compare(0), kKeys.Lease(7), Cmp::CREATE, Cmp::EQUAL, 0);
  CHECK(back.success(0).request_put().lease() == 7);
  CHECK(DecodeLease(kKeys, [&] {
          mvccpb::KeyValue kv;
          kv.set_key(kKeys.Lease(7));
          kv.set_value(back.success(0).request_put().value());
          kv.set_lease(7);
          return kv;
        }())->ttl_seconds() == 0);

  google::protobuf::RepeatedPtrField<std::string> held;
  *held.Add() = kKeys.Lease(7);
  *held.Add() = kKeys.Endpoint(1);
  *held.Add() = kKeys.Port("h1", 10002);
  *held.Add() = kKeys.Endpoint(2);
  *held.Add() = kKeys.Port("h2", 10001);
  *held.Add() = kKeys.Port("h1", 10001);
  *held.Add() = kKeys.Endpoint(0x10);
  CHECK(EndpointKeysOf(kKeys, held) ==
        std::vector<std::string>{kKeys.Endpoint(1), kKeys.Endpoint(2), kKeys.Endpoint(0x10)});
}

TEST_CASE("etcd plans: what the sweep does with a lease that has no record", "[registry][etcd-map]") {
  using Keys = google::protobuf::RepeatedPtrField<std::string>;
  auto keys_of = [](std::vector<std::string> v) {
    Keys k;
    for (auto& s : v) *k.Add() = s;
    return k;
  };
  const Keys none;
  const Keys ours = keys_of({kKeys.Endpoint(3), kKeys.Port("h1", 10001)});
  struct Row {
    uint64_t id;
    int64_t granted, ttl;
    Keys keys;
    OrphanAction want;
  };
  const std::vector<Row> rows = {
      {7, kStaticLeaseTtl, kStaticLeaseTtl - 100, none, OrphanAction::kRevoke},  // granted, record never written
      {7, kStaticLeaseTtl, kStaticLeaseTtl - 100, ours, OrphanAction::kRestore},  // died ending it: entries stay
      {7, kStaticLeaseTtl, kStaticLeaseTtl - 100, keys_of({kKeys.Lease(7)}), OrphanAction::kKeep},  // has it now
      {7, kStaticLeaseTtl, kStaticLeaseTtl - 100, keys_of({"/elsewhere/x"}), OrphanAction::kKeep},   // not ours
      // died ending it while it held an allocation (its port and identity index): they stay
      {7, kStaticLeaseTtl, kStaticLeaseTtl - 100,
       keys_of({kKeys.Port("h1", 10001), kKeys.Unregistered(AllocationFor(AllocReq(7, "h1", 2), 10001))}),
       OrphanAction::kRestore},
      {7, kStaticLeaseTtl, kStaticLeaseTtl - 100, keys_of({"/sky/registry/unreg/0000000000000007/h1/web/x"}),
       OrphanAction::kKeep},  // an index key of no shape of ours
      {7, 30, 20, none, OrphanAction::kKeep},                 // expires by itself
      {7, kStaticLeaseTtl, -1, none, OrphanAction::kKeep},    // gone already
      {kMaxId + 1, kStaticLeaseTtl, kStaticLeaseTtl, none, OrphanAction::kKeep},  // a hub's election lease
      {0, kStaticLeaseTtl, kStaticLeaseTtl, none, OrphanAction::kKeep},
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i);
    const Row& r = rows[i];
    CHECK(DecideOrphanLease(kKeys, r.id, r.granted, r.ttl, r.keys) == r.want);
  }
}

TEST_CASE("SnapshotChunker: routes in the first message, the last says no more", "[registry][snapshot]") {
  SnapshotChunker c("", 2, 30);
  v1::RouteConfig r;
  r.set_app("web");
  c.AddRoute(r);
  for (uint64_t id = 1; id <= 5; ++id) {
    v1::Endpoint ep = Ep(7, "h1", static_cast<uint32_t>(10000 + id));
    ep.set_id(id);
    c.AddEndpoint(ep);
  }
  auto msgs = c.Finish();
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].routes_size() == 1);
  CHECK(msgs[1].routes_size() == 0);
  CHECK(msgs[0].endpoints_size() == 2);
  CHECK((msgs[0].more() && msgs[1].more() && !msgs[2].more()));
  CHECK(msgs[2].revision() == 30);
  REQUIRE(msgs[2].endpoints_size() == 1);
  CHECK(msgs[2].endpoints(0).id() == 5);
}

}  // namespace
}  // namespace skyport::registry
