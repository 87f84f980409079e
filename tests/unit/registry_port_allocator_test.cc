#include <catch2/catch.hpp>

#include <set>

#include "registry/port_allocator.h"

namespace skyport::registry {
namespace {

Allocation Alloc(const std::string& host, uint32_t port, uint64_t lease = 1, std::string app = "web",
                 uint32_t instance = 0, uint64_t endpoint_id = 0) {
  Allocation a;
  a.host = host;
  a.port = port;
  a.lease_id = lease;
  a.app = std::move(app);
  a.commit = "abcd";
  a.role = "http";
  a.instance = instance;
  a.endpoint_id = endpoint_id;
  return a;
}

TEST_CASE("PickFree: empty host gives lo + random % n", "[registry][ports]") {
  PortAllocator p(100, 109);
  struct Row {
    uint64_t random;
    uint32_t want;
  };
  const Row rows[] = {{0, 100}, {1, 101}, {9, 109}, {10, 100}, {25, 105}, {~uint64_t{0}, 105}};
  for (const Row& r : rows) {
    INFO("random " << r.random);
    auto got = p.PickFree("h", r.random);
    REQUIRE(got.ok());
    CHECK(*got == r.want);
  }
}

TEST_CASE("PickFree: skips live ports scanning upwards and wraps around", "[registry][ports]") {
  PortAllocator p(100, 104);
  for (uint32_t port : {101u, 102u, 104u}) p.Put(Alloc("h", port));
  struct Row {
    uint64_t random;
    uint32_t want;
  };
  // Free: 100, 103.
  const Row rows[] = {{0, 100}, {1, 103}, {2, 103}, {3, 103}, {4, 100}, {5, 100}, {6, 103}};
  for (const Row& r : rows) {
    INFO("random " << r.random);
    auto got = p.PickFree("h", r.random);
    REQUIRE(got.ok());
    CHECK(*got == r.want);
  }
  // Another host is unaffected.
  CHECK(*p.PickFree("other", 1) == 101);
}

TEST_CASE("PickFree: never returns a live port", "[registry][ports]") {
  PortAllocator p(2000, 2063);
  std::set<uint32_t> live;
  for (uint64_t r = 0; r < 64; ++r) {
    auto got = p.PickFree("h", r * 7919);
    REQUIRE(got.ok());
    CHECK(live.count(*got) == 0);
    CHECK(*got >= 2000);
    CHECK(*got <= 2063);
    live.insert(*got);
    p.Put(Alloc("h", *got));
  }
  CHECK(live.size() == 64);
  auto full = p.PickFree("h", 3);
  REQUIRE_FALSE(full.ok());
  CHECK(full.status().code() == Code::kResourceExhausted);
  CHECK(full.status().message() == "no free port on h in 2000-2063: all 64 are live");
}

TEST_CASE("PickFree: explicit ports outside the range do not count against it", "[registry][ports]") {
  PortAllocator p(100, 101);
  p.Put(Alloc("h", 99));
  p.Put(Alloc("h", 102));
  p.Put(Alloc("h", 8080));
  p.Put(Alloc("h", 100));
  auto got = p.PickFree("h", 0);
  REQUIRE(got.ok());
  CHECK(*got == 101);
  p.Put(Alloc("h", 101));
  CHECK(p.PickFree("h", 0).status().code() == Code::kResourceExhausted);
  // Erase frees it again.
  p.Erase({"h", 100});
  CHECK(*p.PickFree("h", 1) == 100);
}

TEST_CASE("PickFree: single-port range", "[registry][ports]") {
  PortAllocator p(5000, 5000);
  CHECK(*p.PickFree("h", 12345) == 5000);
  p.Put(Alloc("h", 5000));
  CHECK(p.PickFree("h", 0).status().code() == Code::kResourceExhausted);
  CHECK(*p.PickFree("h2", 0) == 5000);
}

TEST_CASE("Put/Find/Erase/size/All", "[registry][ports]") {
  PortAllocator p(100, 200);
  CHECK(p.size() == 0);
  CHECK(p.Find({"h", 150}) == nullptr);
  p.Put(Alloc("h", 150, 1));
  p.Put(Alloc("h", 151, 2));
  p.Put(Alloc("g", 150, 3));
  CHECK(p.size() == 3);
  REQUIRE(p.Find({"h", 150}) != nullptr);
  CHECK(p.Find({"h", 150})->lease_id == 1);
  CHECK(p.Find({"g", 150})->lease_id == 3);
  CHECK(p.Find({"g", 151}) == nullptr);

  // Put on an existing key replaces without growing.
  p.Put(Alloc("h", 150, 9));
  CHECK(p.size() == 3);
  CHECK(p.Find({"h", 150})->lease_id == 9);

  Allocation registered = *p.Find({"h", 151});
  registered.endpoint_id = 77;
  p.Put(registered);
  CHECK(p.Find({"h", 151})->endpoint_id == 77);
  CHECK(p.size() == 3);

  p.Erase({"h", 150});
  p.Erase({"h", 150});  // twice is harmless
  p.Erase({"nohost", 1});
  CHECK(p.size() == 2);
  CHECK(p.Find({"h", 150}) == nullptr);

  std::set<std::pair<std::string, uint32_t>> all;
  for (const Allocation& a : p.All()) all.insert({a.host, a.port});
  CHECK(all == std::set<std::pair<std::string, uint32_t>>{{"h", 151}, {"g", 150}});
  p.Erase({"h", 151});
  p.Erase({"g", 150});
  CHECK(p.size() == 0);
  CHECK(p.All().empty());
}

TEST_CASE("FindPending: same holder and identity, unregistered only", "[registry][ports]") {
  PortAllocator p(100, 200);
  p.Put(Alloc("h", 120, /*lease=*/1, "web", /*instance=*/0));
  p.Put(Alloc("h", 121, /*lease=*/1, "web", /*instance=*/1, /*endpoint_id=*/5));
  struct Row {
    Allocation like;
    int want;  // port or -1 for none
  };
  const Row rows[] = {
      {Alloc("h", 0, 1, "web", 0), 120},
      {Alloc("h", 999, 1, "web", 0), 120},  // the port in the probe is ignored
      {Alloc("h", 0, 2, "web", 0), -1},     // other lease
      {Alloc("h", 0, 1, "api", 0), -1},     // other app
      {Alloc("g", 0, 1, "web", 0), -1},     // other host
      {Alloc("h", 0, 1, "web", 1), -1},     // registered already: not pending
      {Alloc("h", 0, 1, "web", 2), -1},     // other instance
  };
  for (size_t i = 0; i < std::size(rows); ++i) {
    INFO("row " << i);
    const Allocation* got = p.FindPending(rows[i].like);
    if (rows[i].want < 0) {
      CHECK(got == nullptr);
    } else {
      REQUIRE(got != nullptr);
      CHECK(got->port == static_cast<uint32_t>(rows[i].want));
    }
  }
  Allocation other_commit = Alloc("h", 0, 1, "web", 0);
  other_commit.commit = "beef";
  CHECK(p.FindPending(other_commit) == nullptr);
  Allocation other_role = Alloc("h", 0, 1, "web", 0);
  other_role.role = "grpc";
  CHECK(p.FindPending(other_role) == nullptr);
}

}  // namespace
}  // namespace skyport::registry

namespace skyport::registry {
namespace {

TEST_CASE("PortAllocator: pending index follows Put and Erase", "[registry][ports]") {
  PortAllocator p(100, 199);
  Allocation a;
  a.host = "h";
  a.port = 120;
  a.lease_id = 5;
  a.app = "web";
  a.commit = "abcd";
  a.role = "http";
  p.Put(a);
  REQUIRE(p.FindPending(a) != nullptr);
  CHECK(p.FindPending(a)->port == 120);
  // Registered: no longer pending.
  a.endpoint_id = 9;
  p.Put(a);
  CHECK(p.FindPending(a) == nullptr);
  // Back to pending (endpoint gone but allocation kept), then erased.
  a.endpoint_id = 0;
  p.Put(a);
  CHECK(p.FindPending(a) != nullptr);
  p.Erase({"h", 120});
  CHECK(p.FindPending(a) == nullptr);
  // The in-range count: a full range, then one explicit port outside it.
  PortAllocator q(10, 11);
  for (uint32_t port : {10u, 11u, 500u}) {
    Allocation b = a;
    b.port = port;
    b.instance = port;
    q.Put(b);
  }
  CHECK(q.PickFree("h", 0).status().code() == Code::kResourceExhausted);
  q.Erase({"h", 11});
  REQUIRE(q.PickFree("h", 0).ok());
  CHECK(*q.PickFree("h", 0) == 11);
}

}  // namespace
}  // namespace skyport::registry
