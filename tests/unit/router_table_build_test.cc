// The router's registry mirror and per-app table rebuilds (router/registry_mirror.h,
// router/table_build.h): a table built from deltas equals the one built from the
// whole state, and shares every untouched app with the table before it.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "router/registry_mirror.h"
#include "router/route_table.h"
#include "tests/unit/router_registry_fixtures.h"
#include "router/table_build.h"

namespace skyport::router {
namespace {

const std::string kA = "aaaa111122223333444455556666777788889999";
const std::string kB = "bbbb111122223333444455556666777788889999";

v1::Endpoint Ep(uint64_t id, const std::string& app, const std::string& commit, const std::string& host,
                uint32_t port, const std::string& role = "web", v1::Health health = v1::HEALTH_PASSING) {
  v1::Endpoint ep = EndpointOf(app, commit, host, port, role, health);
  ep.set_id(id);
  ep.set_registered_unix_ms(static_cast<int64_t>(1000 + id));
  return ep;
}

v1::Event Put(const v1::Endpoint& ep) {
  v1::Event e;
  e.set_type(v1::Event::ENDPOINT_PUT);
  *e.mutable_endpoint() = ep;
  return e;
}
v1::Event Del(uint64_t id) {
  v1::Event e;
  e.set_type(v1::Event::ENDPOINT_DELETE);
  e.mutable_endpoint()->set_id(id);
  return e;
}
v1::Event PutRoute(const v1::RouteConfig& r) {
  v1::Event e;
  e.set_type(v1::Event::ROUTE_PUT);
  *e.mutable_route() = r;
  return e;
}
v1::Event DelRoute(const std::string& app) {
  v1::Event e;
  e.set_type(v1::Event::ROUTE_DELETE);
  e.mutable_route()->set_app(app);
  return e;
}

// Names resolve through this map (a fake resolver); numeric hosts must never be asked.
struct FakeNames {
  std::map<std::string, std::string> known;
  std::vector<std::string> asked;
  HostLookupFn Fn() {
    return [this](const std::string& host) -> const std::string* {
      asked.push_back(host);
      auto it = known.find(host);
      return it == known.end() ? nullptr : &it->second;
    };
  }
};

// The whole state as vectors, the way BuildFromRegistry takes it.
struct Whole {
  std::map<uint64_t, v1::Endpoint> eps;
  std::map<std::string, v1::RouteConfig> routes;
  void Apply(const v1::Event& e) {
    switch (e.type()) {
      case v1::Event::ENDPOINT_PUT: eps[e.endpoint().id()] = e.endpoint(); break;
      case v1::Event::ENDPOINT_DELETE: eps.erase(e.endpoint().id()); break;
      case v1::Event::ROUTE_PUT: routes[e.route().app()] = e.route(); break;
      case v1::Event::ROUTE_DELETE: routes.erase(e.route().app()); break;
      default: break;
    }
  }
  std::string Json(int64_t revision) const {
    std::vector<v1::Endpoint> e;
    for (const auto& [id, ep] : eps) e.push_back(ep);
    std::vector<v1::RouteConfig> r;
    for (const auto& [app, route] : routes) r.push_back(route);
    return RoutesJson(*BuildFromRegistry(e, r, revision, TableOptions{}, nullptr));
  }
};

TEST_CASE("Table builds from deltas equal builds from the whole state, batch after batch", "[router][table_build]") {
  // Each row is one batch of events; after each, the incremental table must
  // equal a full build of everything applied so far.
  const std::vector<std::vector<v1::Event>> batches = {
      {Put(Ep(1, "shop", kA, "10.0.0.1", 8001)), Put(Ep(2, "shop", kA, "10.0.0.2", 8002)),
       Put(Ep(3, "blog", kA, "10.0.0.3", 8003))},
      {Put(Ep(4, "shop", kB, "10.0.0.4", 8004)), PutRoute(Route("shop", {{"aaaa", 90}, {kB, 10}}))},
      {Del(1)},
      {Put(Ep(2, "shop", kA, "10.0.0.2", 8002, "web", v1::HEALTH_CRITICAL))},  // health change
      {Put(Ep(3, "api", kA, "10.0.0.3", 8003))},  // the endpoint moves to another app: blog is gone
      {Put(Ep(5, "api", kB, "10.0.0.5", 9000, "worker"))},  // another role: a commit, not an instance
      {DelRoute("shop")},
      {Del(2), Del(4)},  // shop has nothing left: gone
      {PutRoute(Route("shop", {{kA, 1}}))},  // back, as a route config only
      {Del(99)},  // unknown id: nothing changes
  };
  RegistryMirror mirror("web");
  Whole whole;
  FakeNames names;
  std::shared_ptr<const RouteTable> table;
  int64_t revision = 0;
  for (const auto& batch : batches) {
    ++revision;
    for (const v1::Event& e : batch) {
      mirror.Apply(e);
      whole.Apply(e);
    }
    TableDelta d = BuildTouched(mirror, mirror.TakeTouched(), names.Fn(), nullptr);
    table = NextTable(table.get(), d.rebuilt, revision, TableOptions{});
    INFO("batch " << revision);
    CHECK(RoutesJson(*table) == whole.Json(revision));
  }
  CHECK(names.asked.empty());  // numeric hosts only
  REQUIRE(table->apps.size() == 2);
  CHECK(table->apps[0]->name == "api");
  CHECK(table->apps[1]->name == "shop");
  CHECK(table->FindApp("shop") == table->apps[1].get());
  CHECK(table->FindApp("blog") == nullptr);
}

TEST_CASE("A delta rebuilds only the apps it touches; the others are shared by pointer", "[router][table_build]") {
  RegistryMirror mirror("web");
  for (uint64_t i = 1; i <= 3; ++i) mirror.PutEndpoint(Ep(i, fmt::format("a{}", i), kA, "10.0.0.1", 8000 + i));
  FakeNames names;
  auto first = NextTable(nullptr, BuildTouched(mirror, mirror.TakeTouched(), names.Fn(), nullptr).rebuilt, 1, {});
  REQUIRE(first->apps.size() == 3);

  mirror.PutEndpoint(Ep(7, "a2", kA, "10.0.0.2", 8007));
  const std::set<std::string> touched = mirror.TakeTouched();
  CHECK(touched == std::set<std::string>{"a2"});
  auto second = NextTable(first.get(), BuildTouched(mirror, touched, names.Fn(), nullptr).rebuilt, 2, {});
  REQUIRE(second->apps.size() == 3);
  CHECK(second->apps[0] == first->apps[0]);  // same object
  CHECK(second->apps[2] == first->apps[2]);
  CHECK(second->apps[1] != first->apps[1]);
  CHECK(second->apps[1]->arms[0].instances.size() == 2);
  CHECK(first->apps[1]->arms[0].instances.size() == 1);  // the old table is unchanged
  CHECK(second->HasInstance("a2", "10.0.0.2:8007"));
  CHECK_FALSE(first->HasInstance("a2", "10.0.0.2:8007"));
  CHECK_FALSE(second->HasInstance("a1", "10.0.0.2:8007"));
  CHECK_FALSE(second->HasInstance("nope", "10.0.0.1:8001"));
  CHECK(second->Match("a3.localhost", "/") == first->apps[2].get());
}

TEST_CASE("Names: an endpoint waits for its host's address; released names are reported", "[router][table_build]") {
  RegistryMirror mirror("web");
  mirror.PutEndpoint(Ep(1, "shop", kA, "app-1.internal", 8001));
  mirror.PutEndpoint(Ep(2, "shop", kA, "app-1.internal", 8002));
  mirror.PutEndpoint(Ep(3, "shop", kA, "10.0.0.3", 8003));
  mirror.PutEndpoint(Ep(4, "blog", kA, "app-1.internal", 8004));
  mirror.PutEndpoint(Ep(5, "blog", kA, "db.internal", 5432, "db"));  // not routed: its name is not needed
  REQUIRE(mirror.AppsUsingHost("app-1.internal"));
  CHECK(*mirror.AppsUsingHost("app-1.internal") == std::map<std::string, size_t>{{"blog", 1}, {"shop", 2}});
  CHECK(mirror.AppsUsingHost("db.internal") == nullptr);
  CHECK(mirror.host_count() == 1);

  FakeNames names;  // nothing resolves yet
  TableDelta d = BuildTouched(mirror, mirror.TakeTouched(), names.Fn(), nullptr);
  CHECK(d.unresolved == std::set<std::string>{"blog", "shop"});
  auto t = NextTable(nullptr, d.rebuilt, 1, {});
  CHECK(t->FindApp("shop")->arms[0].instances.size() == 1);  // the numeric one only
  CHECK(t->FindApp("blog")->arms.empty());                   // in the table (it has the role), nothing to route to

  names.known["app-1.internal"] = "10.1.1.1";
  d = BuildTouched(mirror, {"shop"}, names.Fn(), nullptr);
  CHECK(d.unresolved.empty());
  t = NextTable(t.get(), d.rebuilt, 1, {});
  const Arm& arm = t->FindApp("shop")->arms[0];
  REQUIRE(arm.instances.size() == 3);
  CHECK(arm.instances[0].host == "10.0.0.3");
  CHECK(arm.instances[1].host == "10.1.1.1");
  CHECK(arm.instances[1].label == "app-1.internal:8001");  // the label keeps the name

  mirror.DeleteEndpoint(1);
  mirror.DeleteEndpoint(2);
  CHECK(mirror.TakeReleasedHosts().empty());  // blog still uses it
  mirror.PutEndpoint(Ep(4, "blog", kA, "10.0.0.4", 8004));  // moves to a numeric host
  CHECK(mirror.TakeReleasedHosts() == std::vector<std::string>{"app-1.internal"});
  CHECK(mirror.host_count() == 0);
}

TEST_CASE("A re-put of an entry on a host name keeps the name's cached address", "[router][table_build]") {
  // Drones re-register on every health or pid change: the name must not be
  // released (and its address dropped from the resolver's cache) each time.
  RegistryMirror mirror("web");
  mirror.PutEndpoint(Ep(1, "shop", kA, "app-1.internal", 8001));
  CHECK(mirror.TakeReleasedHosts().empty());
  mirror.PutEndpoint(Ep(1, "shop", kA, "app-1.internal", 8001));  // the same entry again
  CHECK(mirror.TakeReleasedHosts().empty());
  mirror.PutEndpoint(Ep(1, "shop", kA, "app-2.internal", 8001));  // moved: the old name goes, once
  mirror.PutEndpoint(Ep(1, "shop", kA, "app-3.internal", 8001));
  mirror.PutEndpoint(Ep(1, "shop", kA, "app-2.internal", 8001));
  CHECK(mirror.TakeReleasedHosts() == std::vector<std::string>{"app-1.internal", "app-3.internal"});
  CHECK(mirror.host_count() == 1);
}

TEST_CASE("A snapshot replaces the mirror: every app of either side is touched", "[router][table_build]") {
  RegistryMirror mirror("web");
  mirror.PutEndpoint(Ep(1, "old", kA, "old.internal", 8001));
  mirror.PutRoute(Route("kept", {{kA, 1}}));
  (void)mirror.TakeTouched();
  RegistryMirror next("web");
  next.PutEndpoint(Ep(2, "new", kA, "10.0.0.2", 8002));
  next.PutRoute(Route("kept", {{kA, 1}}));
  mirror.ReplaceWith(std::move(next));
  CHECK(mirror.TakeTouched() == std::set<std::string>{"kept", "new", "old"});
  CHECK(mirror.TakeReleasedHosts() == std::vector<std::string>{"old.internal"});
  CHECK(mirror.endpoint_count() == 1);
  REQUIRE(mirror.Find("kept"));
  REQUIRE(mirror.Find("kept")->route);
  CHECK(mirror.Find("kept")->route->app() == "kept");
  CHECK(mirror.Find("old") == nullptr);
}

}  // namespace
}  // namespace skyport::router
