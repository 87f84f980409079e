// RegistryState: route config (CAS), snapshots, revisions and history.
#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include "registry/state.h"

namespace skyport::registry {
namespace {

constexpr int64_t kT0 = 1'000'000;
constexpr int64_t kWall = 1'780'000'000'000;

v1::RouteConfig Route(const std::string& app, std::map<std::string, uint32_t> weights = {{"abcd", 1}}) {
  v1::RouteConfig r;
  r.set_app(app);
  for (const auto& [c, w] : weights) (*r.mutable_weights())[c] = w;
  return r;
}

v1::Endpoint Ep(uint64_t lease, uint32_t port, const std::string& app = "web") {
  v1::Endpoint e;
  e.set_app(app);
  e.set_commit("abcdef01");
  e.set_role("http");
  e.set_host("h1");
  e.set_port(port);
  e.set_lease_id(lease);
  return e;
}

v1::AllocateRequest AllocReq(uint64_t lease) {
  v1::AllocateRequest r;
  r.set_host("h1");
  r.set_app("web");
  r.set_commit("abcd");
  r.set_role("http");
  r.set_lease_id(lease);
  return r;
}

uint64_t GrantLease(RegistryState& st, uint32_t ttl = 10) {
  Changes ch;
  return st.Grant(ttl, kT0, ch)->lease_id();
}

uint64_t MustRegister(RegistryState& st, const v1::Endpoint& ep) {
  Changes ch;
  auto r = st.Register(ep, kWall, ch);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

std::vector<int64_t> Revisions(const std::vector<v1::Event>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events) out.push_back(e.revision());
  return out;
}

TEST_CASE("State: PutRoute compare-and-swap", "[registry][state][routes]") {
  RegistryState st({});
  Changes ch;
  // expected 0: must not exist yet.
  auto r1 = st.PutRoute(Route("web"), 0, ch);
  REQUIRE(r1.ok());
  CHECK(*r1 == 1);
  CHECK(st.revision() == 1);
  CHECK(ch.routes == std::set<std::string>{"web"});
  REQUIRE(ch.events.size() == 1);
  CHECK(ch.events[0].type() == v1::Event::ROUTE_PUT);
  CHECK(ch.events[0].revision() == 1);
  CHECK(ch.events[0].route().revision() == 1);
  REQUIRE(st.GetRoute("web").ok());
  CHECK(st.GetRoute("web")->revision() == 1);

  struct Row {
    std::optional<int64_t> expected;
    bool ok;
  };
  // Each successful put bumps the route's revision to the global one.
  const Row rows[] = {
      {0, false},             // exists now
      {5, false},             // wrong revision
      {1, true},              // matches -> revision 2
      {1, false},             // stale
      {2, true},              // -> 3
      {std::nullopt, true},   // unconditional -> 4
      {std::nullopt, true},   // -> 5
  };
  int64_t rev = 1;
  for (const Row& r : rows) {
    INFO("expected " << (r.expected ? std::to_string(*r.expected) : "unset") << " at " << rev);
    Changes c;
    auto got = st.PutRoute(Route("web", {{"beef", 2}}), r.expected, c);
    if (r.ok) {
      REQUIRE(got.ok());
      CHECK(*got == ++rev);
      CHECK(c.events.size() == 1);
    } else {
      REQUIRE_FALSE(got.ok());
      CHECK(got.status().code() == Code::kFailedPrecondition);
      CHECK(got.status().message() == "route web: revision is " + std::to_string(rev) + ", expected " +
                                          std::to_string(*r.expected) + "; read it again and retry");
      CHECK(c.empty());
    }
    CHECK(st.revision() == rev);
    CHECK(st.FindRoute("web")->revision() == rev);
  }
  // Unconditional on a new app creates it.
  CHECK(*st.PutRoute(Route("api"), std::nullopt, ch) == 6);
}

TEST_CASE("State: PutRoute validation changes nothing", "[registry][state][routes]") {
  RegistryState st({});
  Changes ch;
  REQUIRE(st.PutRoute(Route("web"), 0, ch).ok());
  v1::RouteConfig bad_host = Route("web");
  bad_host.add_hosts("bad host");
  struct Row {
    v1::RouteConfig route;
    std::string starts;
  };
  const Row rows[] = {
      {Route("web", {{"NOTHEX", 1}}), "route.weights[NOTHEX]:"},
      {Route("web", {{"abcd", 0}, {"beef", 0}}), "route.weights: all weights are 0"},
      {bad_host, "route.hosts[0]: \"bad host\""},
      {Route("Web"), "route.app: \"Web\""},
  };
  for (const Row& r : rows) {
    INFO(r.starts);
    Changes c;
    auto got = st.PutRoute(r.route, std::nullopt, c);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalidArgument);
    CHECK_THAT(got.status().message(), Catch::StartsWith(r.starts));
    CHECK(c.empty());
    CHECK(st.revision() == 1);
    CHECK(st.FindRoute("web")->weights().at("abcd") == 1);
  }
}

TEST_CASE("State: GetRoute and DeleteRoute", "[registry][state][routes]") {
  RegistryState st({});
  Changes ch;
  CHECK(st.GetRoute("web").status().code() == Code::kNotFound);
  CHECK(st.GetRoute("Bad!").status().code() == Code::kInvalidArgument);
  CHECK(st.DeleteRoute("web", std::nullopt, ch).status().code() == Code::kNotFound);
  CHECK(st.DeleteRoute("-x", std::nullopt, ch).status().code() == Code::kInvalidArgument);
  CHECK(ch.empty());

  REQUIRE(st.PutRoute(Route("web"), 0, ch).ok());  // revision 1
  REQUIRE(st.PutRoute(Route("api"), 0, ch).ok());  // revision 2
  Changes c;
  auto stale = st.DeleteRoute("web", 2, c);
  CHECK(stale.status().code() == Code::kFailedPrecondition);
  CHECK(stale.status().message() == "route web: revision is 1, expected 2; read it again and retry");
  CHECK(c.empty());

  auto del = st.DeleteRoute("web", 1, c);
  REQUIRE(del.ok());
  CHECK(*del == 3);
  CHECK(st.revision() == 3);
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].type() == v1::Event::ROUTE_DELETE);
  CHECK(c.events[0].route().app() == "web");
  CHECK(c.events[0].route().revision() == 3);
  CHECK(c.routes == std::set<std::string>{"web"});
  CHECK(st.FindRoute("web") == nullptr);
  CHECK(st.GetRoute("web").status().code() == Code::kNotFound);

  CHECK(*st.DeleteRoute("api", std::nullopt, c) == 4);
  // After a delete, expected 0 may create it again.
  CHECK(*st.PutRoute(Route("web"), 0, c) == 5);
}

TEST_CASE("State: the revision bumps exactly once per mutating call with events", "[registry][state]") {
  RegistryState st({});
  uint64_t a = GrantLease(st);
  uint64_t b = GrantLease(st);
  struct Step {
    const char* what;
    std::function<void(Changes&)> call;
    int64_t revision;
    size_t events;
  };
  const Step steps[] = {
      {"grant", [&](Changes& c) { (void)st.Grant(5, kT0, c); }, 0, 0},
      {"allocate", [&](Changes& c) { (void)st.Allocate(AllocReq(a), 0, c); }, 0, 0},
      {"register 1", [&](Changes& c) { (void)st.Register(Ep(a, 1), kWall, c); }, 1, 1},
      {"register 2", [&](Changes& c) { (void)st.Register(Ep(a, 2), kWall, c); }, 2, 1},
      {"register 3", [&](Changes& c) { (void)st.Register(Ep(a, 3, "api"), kWall, c); }, 3, 1},
      {"update 1", [&](Changes& c) { (void)st.Register(Ep(a, 1), kWall, c); }, 4, 1},
      {"put route", [&](Changes& c) { (void)st.PutRoute(Route("web"), std::nullopt, c); }, 5, 1},
      {"failed deregister", [&](Changes& c) { (void)st.Deregister(99, c); }, 5, 0},
      {"deregister 2", [&](Changes& c) { (void)st.Deregister(2, c); }, 6, 1},
      {"keepalive", [&](Changes&) { (void)st.KeepAlive(a, kT0); }, 6, 0},
      {"revoke empty lease", [&](Changes& c) { (void)st.Revoke(b, c); }, 6, 0},
      {"revoke a (2 entries)", [&](Changes& c) { (void)st.Revoke(a, c); }, 7, 2},
      {"delete route", [&](Changes& c) { (void)st.DeleteRoute("web", std::nullopt, c); }, 8, 1},
  };
  for (const Step& s : steps) {
    INFO(s.what);
    Changes c;
    s.call(c);
    CHECK(st.revision() == s.revision);
    CHECK(c.events.size() == s.events);
    for (const auto& e : c.events) CHECK(e.revision() == s.revision);
  }
}

TEST_CASE("State: Snapshot chunks endpoints and filters by app", "[registry][state][snapshot]") {
  RegistryState st({});
  uint64_t a = GrantLease(st, 0);
  for (uint32_t p = 1; p <= 5; ++p) MustRegister(st, Ep(a, p, "web"));
  MustRegister(st, Ep(a, 6, "api"));
  Changes ch;
  REQUIRE(st.PutRoute(Route("web"), 0, ch).ok());
  REQUIRE(st.PutRoute(Route("api"), 0, ch).ok());
  REQUIRE(st.revision() == 8);

  struct Row {
    std::string app;
    size_t chunk;
    std::vector<int> endpoints_per_msg;
    size_t routes;
  };
  const Row rows[] = {
      {"", 2, {2, 2, 2}, 2},
      {"", 4, {4, 2}, 2},
      {"", 6, {6}, 2},
      {"", 100, {6}, 2},
      {"", 1, {1, 1, 1, 1, 1, 1}, 2},
      {"web", 2, {2, 2, 1}, 1},
      {"web", 5, {5}, 1},
      {"api", 2, {1}, 1},
      {"none", 2, {0}, 0},
  };
  for (const Row& r : rows) {
    INFO("app=" << r.app << " chunk=" << r.chunk);
    auto msgs = st.Snapshot(r.app, r.chunk);
    REQUIRE(msgs.size() == r.endpoints_per_msg.size());
    std::set<uint64_t> ids;
    for (size_t i = 0; i < msgs.size(); ++i) {
      CHECK(msgs[i].kind() == v1::WatchResponse::SNAPSHOT);
      CHECK(msgs[i].revision() == 8);
      CHECK(msgs[i].more() == (i + 1 < msgs.size()));
      CHECK(msgs[i].endpoints_size() == r.endpoints_per_msg[i]);
      CHECK(msgs[i].routes_size() == (i == 0 ? static_cast<int>(r.routes) : 0));
      for (const auto& ep : msgs[i].endpoints()) {
        CHECK((r.app.empty() || ep.app() == r.app));
        ids.insert(ep.id());
      }
      for (const auto& route : msgs[i].routes()) CHECK((r.app.empty() || route.app() == r.app));
    }
    size_t total = 0;
    for (int n : r.endpoints_per_msg) total += static_cast<size_t>(n);
    CHECK(ids.size() == total);
  }
  RegistryState empty({});
  auto msgs = empty.Snapshot("", 10);
  REQUIRE(msgs.size() == 1);
  CHECK_FALSE(msgs[0].more());
  CHECK(msgs[0].revision() == 0);
  CHECK(msgs[0].endpoints_size() == 0);
}

TEST_CASE("State: EventsSince resumes, filters by app, and honours the window", "[registry][state][history]") {
  StateOptions o;
  o.history = 3;
  RegistryState st(o);
  uint64_t a = GrantLease(st, 0);
  Changes ch;
  MustRegister(st, Ep(a, 1, "web"));                   // 1
  MustRegister(st, Ep(a, 2, "api"));                   // 2
  REQUIRE(st.PutRoute(Route("web"), 0, ch).ok());      // 3
  REQUIRE(st.PutRoute(Route("api"), 0, ch).ok());      // 4
  REQUIRE(st.Deregister(1, ch).ok());                  // 5
  REQUIRE(st.revision() == 5);

  struct Row {
    int64_t from;
    std::string app;
    std::optional<std::vector<int64_t>> want;
  };
  const Row rows[] = {
      {0, "", std::vector<int64_t>{1, 2, 3, 4, 5}},
      {2, "", std::vector<int64_t>{3, 4, 5}},
      {5, "", std::vector<int64_t>{}},
      {6, "", std::nullopt},
      {0, "web", std::vector<int64_t>{1, 3, 5}},
      {1, "web", std::vector<int64_t>{3, 5}},
      {0, "api", std::vector<int64_t>{2, 4}},
      {0, "other", std::vector<int64_t>{}},
      {9, "web", std::nullopt},
  };
  for (const Row& r : rows) {
    INFO("from " << r.from << " app " << r.app);
    auto got = st.EventsSince(r.from, r.app);
    REQUIRE(got.has_value() == r.want.has_value());
    if (got) CHECK(Revisions(*got) == *r.want);
  }
  auto web = st.EventsSince(0, "web");
  CHECK((*web)[0].type() == v1::Event::ENDPOINT_PUT);
  CHECK((*web)[1].type() == v1::Event::ROUTE_PUT);
  CHECK((*web)[2].type() == v1::Event::ENDPOINT_DELETE);

  st.TrimHistory();  // keeps revisions 3..5
  CHECK_FALSE(st.EventsSince(0, "").has_value());
  CHECK_FALSE(st.EventsSince(1, "web").has_value());
  REQUIRE(st.EventsSince(2, "").has_value());
  CHECK(Revisions(*st.EventsSince(2, "")) == std::vector<int64_t>{3, 4, 5});
  CHECK(Revisions(*st.EventsSince(2, "api")) == std::vector<int64_t>{4});
}

}  // namespace
}  // namespace skyport::registry
