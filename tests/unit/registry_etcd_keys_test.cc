// The etcd key layout, value encoding and watch-event mapping
// (registry/etcd_keys.h, registry/etcd_events.h), on hand-made etcd messages.
#include <catch2/catch.hpp>

#include <string>

#include "registry/etcd_events.h"
#include "registry/etcd_keys.h"
#include "tests/unit/registry_state_fixtures.h"

namespace skyport::registry {
namespace {

using namespace testing;  // NOLINT: test fixtures

const EtcdKeys kKeys("/sky/");

mvccpb::KeyValue Kv(const std::string& key, const std::string& value, int64_t mod, int64_t lease = 0) {
  mvccpb::KeyValue kv;
  kv.set_key(key);
  kv.set_value(value);
  kv.set_create_revision(mod);
  kv.set_mod_revision(mod);
  kv.set_version(1);
  kv.set_lease(lease);
  return kv;
}

v1::Endpoint StoredEp(uint64_t id, uint64_t lease, uint32_t port, const std::string& app = "web") {
  v1::Endpoint ep = Ep(lease, "10.0.0.1", port, app);
  ep.set_id(id);
  ep.set_registered_unix_ms(kWall);
  return ep;
}

mvccpb::Event PutEvent(const mvccpb::KeyValue& kv) {
  mvccpb::Event e;
  e.set_type(mvccpb::Event::PUT);
  *e.mutable_kv() = kv;
  return e;
}

mvccpb::Event DeleteEvent(const mvccpb::KeyValue& prev, int64_t rev, bool with_prev = true) {
  mvccpb::Event e;
  e.set_type(mvccpb::Event::DELETE);
  e.mutable_kv()->set_key(prev.key());
  e.mutable_kv()->set_mod_revision(rev);
  if (with_prev) *e.mutable_prev_kv() = prev;
  return e;
}

TEST_CASE("etcd keys: the layout, and every key parses back to what it names", "[registry][etcd-map]") {
  CHECK(kKeys.root() == "/sky/registry/");
  CHECK(kKeys.Lease(0x2a) == "/sky/registry/lease/000000000000002a");
  CHECK(kKeys.Endpoint(kMaxId) == "/sky/registry/ep/001fffffffffffff");
  CHECK(kKeys.Port("10.0.0.1", 80) == "/sky/registry/port/10.0.0.1/00080");
  CHECK(kKeys.HostPorts("h") == "/sky/registry/port/h/");
  CHECK(kKeys.Route("web") == "/sky/registry/route/web");

  ParsedKey l = kKeys.Parse(kKeys.Lease(7));
  CHECK((l.kind == KeyKind::kLease && l.id == 7));
  ParsedKey e = kKeys.Parse(kKeys.Endpoint(123456789));
  CHECK((e.kind == KeyKind::kEndpoint && e.id == 123456789));
  ParsedKey p = kKeys.Parse(kKeys.Port("fe80::1", 65535));
  CHECK((p.kind == KeyKind::kPort && p.host == "fe80::1" && p.port == 65535));
  ParsedKey r = kKeys.Parse(kKeys.Route("shop-2"));
  CHECK((r.kind == KeyKind::kRoute && r.app == "shop-2"));
  // Fixed-width ids keep etcd's key order the id order.
  CHECK(kKeys.Endpoint(9) < kKeys.Endpoint(10));
  CHECK(kKeys.Endpoint(0xff) < kKeys.Endpoint(0x100));
}

TEST_CASE("etcd keys: anything but the exact shapes is kOther", "[registry][etcd-map]") {
  for (const char* bad : {"/sky/registry/lease/2a", "/sky/registry/lease/000000000000002A",
                          "/sky/registry/lease/0000000000000000", "/sky/registry/ep/0020000000000000",
                          "/sky/registry/ep/000000000000002a/x", "/other/registry/ep/000000000000002a",
                          "/sky/registry/port/h/80", "/sky/registry/port/h/00000", "/sky/registry/port/h/65536",
                          "/sky/registry/port/h/0008x", "/sky/registry/port/00080", "/sky/registry/port/-h/00080",
                          "/sky/registry/route/Web", "/sky/registry/route/", "/sky/registry/route/a/b",
                          "/sky/registry/meta", "/sky/registr", ""}) {
    INFO(bad);
    CHECK(kKeys.Parse(bad).kind == KeyKind::kOther);
  }
}

TEST_CASE("etcd values: round trips, the revision from mod_revision", "[registry][etcd-map]") {
  v1::Endpoint ep = StoredEp(42, 7, 15000);
  ep.set_revision(99);  // never stored: the key's mod_revision is the truth
  auto got = DecodeEndpoint(kKeys, Kv(kKeys.Endpoint(42), EncodeEndpoint(ep), 120, 7));
  REQUIRE(got.ok());
  CHECK(got->revision() == 120);
  got->set_revision(99);
  CHECK(got->SerializeAsString() == ep.SerializeAsString());

  Allocation a{"10.0.0.1", 15000, 7, "web", "abcdef01", "http", 3, 42};
  auto alloc = DecodeAllocation(kKeys, Kv(kKeys.Port("10.0.0.1", 15000), EncodeAllocation(a), 5, 7));
  REQUIRE(alloc.ok());
  CHECK(std::tie(alloc->host, alloc->port, alloc->lease_id, alloc->app, alloc->commit, alloc->role, alloc->instance,
                 alloc->endpoint_id) == std::tie(a.host, a.port, a.lease_id, a.app, a.commit, a.role, a.instance,
                                                 a.endpoint_id));

  auto lease = DecodeLease(kKeys, Kv(kKeys.Lease(7), EncodeLease(7, 0), 3, 7));
  REQUIRE(lease.ok());
  CHECK((lease->lease_id() == 7 && lease->ttl_seconds() == 0 && lease->revision() == 3));

  v1::RouteConfig route;
  route.set_app("web");
  (*route.mutable_weights())["abcdef01"] = 100;
  route.set_revision(1);
  auto r = DecodeRoute(kKeys, Kv(kKeys.Route("web"), EncodeRoute(route), 77));
  REQUIRE(r.ok());
  CHECK(r->revision() == 77);
  CHECK(r->weights().at("abcdef01") == 100);
}

TEST_CASE("etcd values: a value that disagrees with its key is DATA_LOSS, never served", "[registry][etcd-map]") {
  const std::string ep = EncodeEndpoint(StoredEp(42, 7, 15000));
  // Copied under another id, detached from its lease, garbage, wrong kind of key.
  for (const auto& kv : {Kv(kKeys.Endpoint(43), ep, 1, 7), Kv(kKeys.Endpoint(42), ep, 1, 0),
                         Kv(kKeys.Endpoint(42), ep, 1, 8), Kv(kKeys.Endpoint(42), "\xff\xff\xff", 1, 7),
                         Kv(kKeys.Route("web"), ep, 1, 7)}) {
    INFO(kv.key());
    auto got = DecodeEndpoint(kKeys, kv);
    CHECK(got.status().code() == Code::kDataLoss);
    CHECK(got.status().message().find("etcd: value of key") == 0);
  }
  Allocation a{"10.0.0.1", 15000, 7, "web", "abcdef01", "http", 0, 0};
  CHECK(DecodeAllocation(kKeys, Kv(kKeys.Port("10.0.0.1", 15001), EncodeAllocation(a), 1, 7)).status().code() ==
        Code::kDataLoss);
  CHECK(DecodeAllocation(kKeys, Kv(kKeys.Port("10.0.0.2", 15000), EncodeAllocation(a), 1, 7)).status().code() ==
        Code::kDataLoss);
  CHECK(DecodeLease(kKeys, Kv(kKeys.Lease(7), EncodeLease(8, 5), 1, 7)).status().code() == Code::kDataLoss);
  v1::RouteConfig other;
  other.set_app("shop");
  CHECK(DecodeRoute(kKeys, Kv(kKeys.Route("web"), EncodeRoute(other), 1)).status().code() == Code::kDataLoss);
}

TEST_CASE("etcd events: puts and deletes of entries and routes; leases and ports are not events",
          "[registry][etcd-map]") {
  const auto ep_kv = Kv(kKeys.Endpoint(42), EncodeEndpoint(StoredEp(42, 7, 15000)), 10, 7);
  auto put = ToEvent(kKeys, PutEvent(ep_kv));
  REQUIRE(put.ok());
  REQUIRE(put->has_value());
  CHECK((*put)->type() == v1::Event::ENDPOINT_PUT);
  CHECK((*put)->revision() == 10);
  CHECK((*put)->endpoint().revision() == 10);
  CHECK((*put)->endpoint().port() == 15000);

  // A delete carries the entry as it was, at the revision of the delete.
  auto del = ToEvent(kKeys, DeleteEvent(ep_kv, 15));
  REQUIRE(del.ok());
  REQUIRE(del->has_value());
  CHECK((*del)->type() == v1::Event::ENDPOINT_DELETE);
  CHECK((*del)->revision() == 15);
  CHECK((*del)->endpoint().revision() == 15);
  CHECK((*del)->endpoint().id() == 42);
  CHECK((*del)->endpoint().app() == "web");
  // Without the previous value a delete cannot be told: DATA_LOSS, never a blank entry.
  CHECK(ToEvent(kKeys, DeleteEvent(ep_kv, 15, false)).status().code() == Code::kDataLoss);

  v1::RouteConfig route;
  route.set_app("web");
  const auto route_kv = Kv(kKeys.Route("web"), EncodeRoute(route), 20);
  auto rput = ToEvent(kKeys, PutEvent(route_kv));
  REQUIRE((rput.ok() && rput->has_value()));
  CHECK(((*rput)->type() == v1::Event::ROUTE_PUT && (*rput)->route().revision() == 20));
  auto rdel = ToEvent(kKeys, DeleteEvent(route_kv, 21));
  REQUIRE((rdel.ok() && rdel->has_value()));
  CHECK(((*rdel)->type() == v1::Event::ROUTE_DELETE && (*rdel)->route().revision() == 21));

  Allocation a{"10.0.0.1", 15000, 7, "web", "abcdef01", "http", 0, 42};
  for (const auto& kv : {Kv(kKeys.Lease(7), EncodeLease(7, 10), 3, 7),
                         Kv(kKeys.Port("10.0.0.1", 15000), EncodeAllocation(a), 10, 7),
                         Kv("/sky/registry/unknown", "x", 4), Kv("/sky/hub/leader", "x", 4)}) {
    INFO(kv.key());
    auto none = ToEvent(kKeys, PutEvent(kv));
    REQUIRE(none.ok());
    CHECK(!none->has_value());
    auto none_del = ToEvent(kKeys, DeleteEvent(kv, 30, false));
    REQUIRE(none_del.ok());
    CHECK(!none_del->has_value());
  }
}

TEST_CASE("etcd events: one watch response is one DELTA, filtered by app, bad values counted", "[registry][etcd-map]") {
  std::vector<mvccpb::Event> evs;
  const auto web = Kv(kKeys.Endpoint(1), EncodeEndpoint(StoredEp(1, 7, 15000, "web")), 10, 7);
  const auto shop = Kv(kKeys.Endpoint(2), EncodeEndpoint(StoredEp(2, 7, 15001, "shop")), 10, 7);
  Allocation a{"10.0.0.1", 15000, 7, "web", "abcdef01", "http", 0, 1};
  evs.push_back(PutEvent(Kv(kKeys.Port("10.0.0.1", 15000), EncodeAllocation(a), 10, 7)));
  evs.push_back(PutEvent(web));
  evs.push_back(PutEvent(shop));
  evs.push_back(PutEvent(Kv(kKeys.Endpoint(3), "garbage\xff", 11, 7)));
  evs.push_back(DeleteEvent(web, 12));

  Delta all = ToDelta(kKeys, evs, 12, "");
  REQUIRE(all.message);
  CHECK(all.message->kind() == v1::WatchResponse::DELTA);
  CHECK(all.message->revision() == 12);
  REQUIRE(all.message->events_size() == 3);
  CHECK(all.message->events(0).endpoint().app() == "web");
  CHECK(all.message->events(1).endpoint().app() == "shop");
  CHECK(all.message->events(2).type() == v1::Event::ENDPOINT_DELETE);
  CHECK(all.undecodable == 1);
  CHECK(all.first_error.find("/sky/registry/ep/0000000000000003") != std::string::npos);

  Delta shop_only = ToDelta(kKeys, evs, 12, "shop");
  REQUIRE(shop_only.message);
  REQUIRE(shop_only.message->events_size() == 1);
  CHECK(shop_only.message->events(0).endpoint().id() == 2);

  // Nothing for this watcher: no message (its revision moves on with the next one).
  CHECK(!ToDelta(kKeys, evs, 12, "other").message);
}

}  // namespace
}  // namespace skyport::registry
