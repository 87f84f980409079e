#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "contract/route.h"
#include "router/route_table.h"
#include "tests/unit/router_registry_fixtures.h"

namespace skyport::router {
namespace {

const std::string kA = "aaaa111122223333444455556666777788889999";
const std::string kB = "bbbb111122223333444455556666777788889999";
const std::string kC = "cccc111122223333444455556666777788889999";

v1::Endpoint Ep(const std::string& app, const std::string& commit, const std::string& host, uint32_t port,
                int64_t registered_ms = 1000, const std::string& role = "web",
                v1::Health health = v1::HEALTH_PASSING) {
  v1::Endpoint ep = EndpointOf(app, commit, host, port, role, health);
  ep.set_registered_unix_ms(registered_ms);
  return ep;
}

// Stats ids that say which (app, commit) they were asked for.
struct FakeStatsIds {
  std::map<std::pair<std::string, std::string>, uint32_t> ids;
  StatsIdFn Fn() {
    return [this](const std::string& app, const std::string& commit) {
      return ids.try_emplace({app, commit}, static_cast<uint32_t>(ids.size() + 1)).first->second;
    };
  }
};

const Arm& ArmOf(const AppRoute& app, const std::string& commit) {
  for (const Arm& a : app.arms)
    if (a.commit == commit) return a;
  FAIL("no arm " << commit);
  return app.arms.front();
}

std::vector<std::string> Labels(const Arm& arm) {
  std::vector<std::string> out;
  for (const Instance& i : arm.instances) out.push_back(i.label);
  return out;
}

TEST_CASE("BuildFromRegistry: arms, weights, instances, hosts and prefixes", "[router][route_table]") {
  std::vector<v1::Endpoint> eps = {
      Ep("web", kA, "10.0.0.2", 8001), Ep("web", kA, "10.0.0.1", 8002), Ep("web", kB, "10.0.0.1", 8003),
      Ep("web", kB, "10.0.0.9", 8009, 1000, "web", v1::HEALTH_CRITICAL),  // skipped
      Ep("web", kB, "10.0.0.7", 8007, 1000, "grpc"),                      // another role: ignored
      Ep("web", kC, "::1", 8004, 1000, "web", v1::HEALTH_WARNING),        // still serves
  };
  v1::RouteConfig r = Route("web", {{"aaaa1111", 90}, {kB, 10}});  // abbreviated key
  r.set_split_id("s1");
  r.set_allow_override(true);
  r.add_hosts("Shop.Example.COM");
  r.add_path_prefixes("/shop/");
  FakeStatsIds stats;
  auto table = BuildFromRegistry(eps, {r}, 42, TableOptions{}, stats.Fn());
  REQUIRE(table);
  CHECK(table->revision == 42);
  REQUIRE(table->apps.size() == 1);
  const AppRoute& web = *table->apps[0];
  CHECK(web.name == "web");
  CHECK(web.split_id == "s1");
  CHECK(web.allow_override);
  REQUIRE(web.arms.size() == 3);
  CHECK(web.arms[0].commit == kA);  // sorted by commit; the key resolved to the full hash
  CHECK(web.arms[1].commit == kB);
  CHECK(web.arms[2].commit == kC);
  CHECK(web.arms[0].weight == 90);
  CHECK(web.arms[1].weight == 10);
  CHECK(web.arms[2].weight == 0);
  CHECK(Labels(web.arms[0]) == std::vector<std::string>{"10.0.0.1:8002", "10.0.0.2:8001"});
  CHECK(Labels(web.arms[1]) == std::vector<std::string>{"10.0.0.1:8003"});
  CHECK(Labels(web.arms[2]) == std::vector<std::string>{"[::1]:8004"});
  CHECK(web.arms[2].instances[0].host == "::1");
  CHECK(web.arms[2].instances[0].port == 8004);
  CHECK(web.arms[0].stats_id == stats.ids.at({"web", kA}));
  CHECK(web.arms[1].stats_id == stats.ids.at({"web", kB}));
  CHECK(web.slices == std::vector<std::pair<uint32_t, int>>{{900'000, 0}, {1'000'000, 1}});
  CHECK(table->selectors[0].hosts == std::vector<std::string>{"shop.example.com", "web.localhost"});
  CHECK(table->selectors[0].path_prefixes == std::vector<std::string>{"/shop/"});
  CHECK(web.hosts == std::vector<std::string>{"Shop.Example.COM"});  // as configured
  CHECK(table->by_host.at("web.localhost") == 0);
  CHECK(table->by_host.at("shop.example.com") == 0);
  CHECK(table->by_prefix == std::vector<std::pair<std::string, int>>{{"/shop/", 0}});
  CHECK(table->default_app == -1);
}

TEST_CASE("BuildFromRegistry: without weights the most recently deployed commit is the default arm",
          "[router][route_table]") {
  std::vector<v1::Endpoint> eps = {
      Ep("web", kA, "10.0.0.1", 8001, 5000), Ep("web", kA, "10.0.0.1", 8002, 500),  // kA first came at 500
      Ep("web", kB, "10.0.0.1", 8003, 2000),
      Ep("web", kC, "10.0.0.1", 8004, 9000, "web", v1::HEALTH_CRITICAL),  // newest, but not serving
  };
  auto table = BuildFromRegistry(eps, {}, 1, TableOptions{}, nullptr);
  REQUIRE(table->apps.size() == 1);
  const AppRoute& web = *table->apps[0];
  CHECK(web.split_id == "default");
  CHECK(web.slices.empty());
  REQUIRE(web.arms.size() == 2);  // kC has no instances and no weight: no arm
  CHECK(web.arms[web.default_arm].commit == kB);
  CHECK(web.ArmFor(0) == web.default_arm);
  CHECK(web.ArmFor(999'999) == web.default_arm);
  CHECK(web.arms[0].stats_id == 0);  // no StatsIdFn

  // Ties go to the larger commit.
  auto tied = BuildFromRegistry({Ep("web", kB, "10.0.0.1", 1, 700), Ep("web", kA, "10.0.0.1", 2, 700)}, {}, 1,
                                TableOptions{}, nullptr);
  CHECK(tied->apps[0]->arms[tied->apps[0]->default_arm].commit == kB);

  // A route config without weights (hosts only) keeps the default arm.
  v1::RouteConfig hosts_only = Route("web", {});
  hosts_only.add_hosts("www.example.com");
  auto with_route = BuildFromRegistry(eps, {hosts_only}, 1, TableOptions{}, nullptr);
  CHECK(with_route->apps[0]->arms[with_route->apps[0]->default_arm].commit == kB);
  CHECK(with_route->by_host.count("www.example.com") == 1);
}

TEST_CASE("BuildFromRegistry: the config's slices are used only when valid", "[router][route_table]") {
  std::vector<v1::Endpoint> eps = {Ep("web", kA, "10.0.0.1", 1), Ep("web", kB, "10.0.0.1", 2)};
  auto with_slices = [&](std::map<std::string, uint32_t> weights,
                         std::vector<std::tuple<std::string, uint32_t, uint32_t>> slices) {
    v1::RouteConfig r = Route("web", weights);
    for (const auto& [c, ge, lt] : slices) {
      auto* s = r.add_slices();
      s->set_commit(c);
      s->set_ge(ge);
      s->set_lt(lt);
    }
    auto table = BuildFromRegistry(eps, {r}, 1, TableOptions{}, nullptr);
    return table->apps.at(0)->slices;
  };
  using Slices = std::vector<std::pair<uint32_t, int>>;
  // Valid: B owns the bottom, A the middle, B the top.
  CHECK(with_slices({{kA, 50}, {kB, 50}}, {{kB, 0, 250'000}, {kA, 250'000, 750'000}, {kB, 750'000, 1'000'000}}) ==
        Slices{{250'000, 1}, {750'000, 0}, {1'000'000, 1}});
  // A slice of a zero-weight commit: fresh layout in commit order.
  CHECK(with_slices({{kA, 50}, {kB, 0}}, {{kB, 0, 500'000}, {kA, 500'000, 1'000'000}}) == Slices{{1'000'000, 0}});
  // A slice of a commit not in weights.
  CHECK(with_slices({{kA, 1}, {kB, 3}}, {{kC, 0, 1'000'000}}) == Slices{{250'000, 0}, {1'000'000, 1}});
  // Not covering everything.
  CHECK(with_slices({{kA, 1}, {kB, 1}}, {{kB, 0, 500'000}, {kA, 500'000, 999'999}}) ==
        Slices{{500'000, 0}, {1'000'000, 1}});
  // Abbreviated keys in weights and slices resolve to the same arms.
  CHECK(with_slices({{"aaaa", 1}, {"bbbb1", 1}}, {{"bbbb1", 0, 500'000}, {"aaaa", 500'000, 1'000'000}}) ==
        Slices{{500'000, 1}, {1'000'000, 0}});
}

TEST_CASE("BuildFromRegistry: abbreviated commits, unknown commits, apps without web endpoints",
          "[router][route_table]") {
  const std::string kA2 = "aaaa999922223333444455556666777788889999";
  std::vector<v1::Endpoint> eps = {
      Ep("web", kA, "10.0.0.1", 1), Ep("web", kA2, "10.0.0.1", 2), Ep("web", kB, "10.0.0.1", 3, 1, "worker"),
      Ep("api", kC, "10.0.0.1", 4, 1, "grpc"),  // no web role and no route: not an app of the table
      Ep("shop", kC, "10.0.0.1", 5, 1, "web", v1::HEALTH_CRITICAL),  // all critical: an app with no arms
  };
  // "aaaa" is ambiguous, "dddd" matches nothing, "bbbb" matches a commit that
  // only has a worker: each becomes an arm, the last under its full hash.
  auto table = BuildFromRegistry(eps, {Route("web", {{"aaaa", 1}, {"dddd", 1}, {"bbbb", 1}})}, 1, TableOptions{},
                                 nullptr);
  REQUIRE(table->apps.size() == 2);
  CHECK(table->apps[0]->name == "shop");
  CHECK(table->apps[0]->arms.empty());
  CHECK(table->apps[0]->ArmFor(5) == -1);
  const AppRoute& web = *table->apps[1];
  std::vector<std::string> commits;
  for (const Arm& a : web.arms) commits.push_back(a.commit);
  CHECK(commits == std::vector<std::string>{"aaaa", kA, kA2, kB, "dddd"});
  CHECK(ArmOf(web, "aaaa").instances.empty());
  CHECK(ArmOf(web, "aaaa").weight == 1);
  CHECK(ArmOf(web, kB).instances.empty());
  CHECK(ArmOf(web, kB).weight == 1);
  CHECK(ArmOf(web, "dddd").instances.empty());
  CHECK(ArmOf(web, kA).weight == 0);
  CHECK(ArmOf(web, kA).instances.size() == 1);
  CHECK(table->by_host.count("api.localhost") == 0);
}

TEST_CASE("BuildFromRegistry: options (domain, role, default app) and host conflicts", "[router][route_table]") {
  std::vector<v1::Endpoint> eps = {Ep("web", kA, "10.0.0.1", 1, 1, "http"), Ep("api", kB, "10.0.0.1", 2, 1, "http")};
  v1::RouteConfig api = Route("api", {});
  api.add_hosts("web.example.com");  // APP.<domain> of web wins
  api.add_hosts("API.example.com");
  api.add_path_prefixes("/api/");
  v1::RouteConfig web = Route("web", {});
  web.add_path_prefixes("/api/");  // claimed by api first (app order)
  web.add_path_prefixes("/");
  TableOptions opts;
  opts.domain = "Example.com";
  opts.role = "http";
  opts.default_app = "web";
  auto table = BuildFromRegistry(eps, {api, web}, 1, opts, nullptr);
  REQUIRE(table->apps.size() == 2);
  CHECK(table->apps[0]->name == "api");
  CHECK(table->by_host.at("web.example.com") == 1);
  CHECK(table->by_host.at("api.example.com") == 0);
  CHECK(table->selectors[0].hosts == std::vector<std::string>{"api.example.com"});
  CHECK(table->by_prefix == std::vector<std::pair<std::string, int>>{{"/api/", 0}, {"/", 1}});
  CHECK(table->default_app == 1);
  opts.default_app = "nope";
  CHECK(BuildFromRegistry(eps, {}, 1, opts, nullptr)->default_app == -1);
}

TEST_CASE("Match: host (port, case, IPv6, trailing dot), then longest prefix, then default",
          "[router][route_table]") {
  v1::RouteConfig shop = Route("shop", {});
  shop.add_hosts("::1");
  shop.add_hosts("shop.example.com");
  shop.add_path_prefixes("/shop/");
  v1::RouteConfig admin = Route("admin", {});
  admin.add_path_prefixes("/shop/admin/");
  admin.add_path_prefixes("/admin");
  TableOptions opts;
  opts.default_app = "web";
  auto t = BuildFromRegistry({Ep("web", kA, "10.0.0.1", 1)}, {shop, admin}, 1, opts, nullptr);
  auto name = [&](std::string_view host, std::string_view path) -> std::string {
    const AppRoute* a = t->Match(host, path);
    return a ? a->name : "(none)";
  };
  CHECK(name("web.localhost", "/") == "web");
  CHECK(name("WEB.LocalHost:8080", "/shop/") == "web");  // host beats prefix
  CHECK(name("web.localhost.", "/") == "web");
  CHECK(name(" shop.example.com:443 ", "/") == "shop");
  CHECK(name("[::1]:80", "/") == "shop");
  CHECK(name("[::1]", "/") == "shop");
  CHECK(name("::1", "/") == "shop");
  CHECK(name("[::1", "/") == "shop");
  CHECK(name("other.example.com", "/shop/cart") == "shop");
  CHECK(name("other.example.com", "/shop/admin/users") == "admin");  // longest prefix
  CHECK(name("", "/admin") == "admin");
  CHECK(name("", "/admins?x=1") == "admin");
  CHECK(name("", "/shop") == "web");  // "/shop/" is not a prefix of "/shop"
  CHECK(name("", "") == "web");
  CHECK(name("web.localhost:", "/") == "web");
  CHECK(name("shop.example.com.evil", "/") == "web");

  TableOptions no_default;
  auto bare = BuildFromRegistry({Ep("web", kA, "10.0.0.1", 1)}, {}, 1, no_default, nullptr);
  CHECK(bare->Match("nope", "/") == nullptr);
  CHECK(bare->Match("web.localhost", "/") == bare->apps[0].get());
  RouteTable empty;
  CHECK(empty.Match("web.localhost", "/") == nullptr);
}

TEST_CASE("ArmFor: ge inclusive, lt exclusive", "[router][route_table]") {
  auto t = BuildFromRegistry({Ep("web", kA, "10.0.0.1", 1), Ep("web", kB, "10.0.0.1", 2)},
                             {Route("web", {{kA, 90}, {kB, 10}})}, 1, TableOptions{}, nullptr);
  const AppRoute& web = *t->apps[0];
  CHECK(web.ArmFor(0) == 0);
  CHECK(web.ArmFor(899'999) == 0);
  CHECK(web.ArmFor(900'000) == 1);
  CHECK(web.ArmFor(999'999) == 1);
  CHECK(web.ArmFor(1'000'000) == 1);  // out of range: the last slice

  AppRoute three;
  three.arms.resize(3);
  three.slices = {{1, 2}, {2, 0}, {1'000'000, 1}};
  CHECK(three.ArmFor(0) == 2);
  CHECK(three.ArmFor(1) == 0);
  CHECK(three.ArmFor(2) == 1);
  AppRoute none;
  CHECK(none.ArmFor(0) == -1);
}

TEST_CASE("ArmByCommitPrefix: exact, unique prefix of 4+, case-insensitive", "[router][route_table]") {
  AppRoute app;
  for (std::string c : {std::string("a"), std::string("abcd0000"), std::string("abcd1111"), kB}) {
    Arm arm;
    arm.commit = c;
    app.arms.push_back(arm);
  }
  CHECK(app.ArmByCommitPrefix("a") == 0);  // exact, however short
  CHECK(app.ArmByCommitPrefix("abcd") == -1);  // ambiguous
  CHECK(app.ArmByCommitPrefix("abcd1") == 2);
  CHECK(app.ArmByCommitPrefix("ABCD0") == 1);
  CHECK(app.ArmByCommitPrefix("bbbb") == 3);
  CHECK(app.ArmByCommitPrefix("bbb") == -1);  // too short
  CHECK(app.ArmByCommitPrefix(kB) == 3);
  CHECK(app.ArmByCommitPrefix(kB + "0") == -1);
  CHECK(app.ArmByCommitPrefix("") == -1);
  CHECK(app.ArmByCommitPrefix("ffff") == -1);
}

TEST_CASE("LoadStaticRoutes: a good file", "[router][route_table]") {
  const char* json = R"({
    "default_app": "web",
    "apps": [
      {"name": "web", "hosts": ["Example.com"], "path_prefixes": ["/web/"], "split_id": "s1",
       "allow_override": true,
       "arms": [{"commit": "b", "weight": 90, "upstreams": ["127.0.0.1:18101", "[::1]:18103"]},
                {"commit": "a", "weight": 10, "upstreams": ["localhost:18102"]}]},
      {"name": "api", "arms": [{"commit": "v1.0_x-y", "upstreams": []}, {"commit": "v2", "upstreams": ["10.1.2.3:80"]}]}
    ]})";
  FakeStatsIds stats;
  auto r = LoadStaticRoutes(json, 7, TableOptions{}, stats.Fn());
  REQUIRE(r.ok());
  const RouteTable& t = **r;
  CHECK(t.revision == 7);
  REQUIRE(t.apps.size() == 2);
  const AppRoute& web = *t.apps[0];  // file order
  CHECK(web.name == "web");
  CHECK(web.split_id == "s1");
  CHECK(web.allow_override);
  REQUIRE(web.arms.size() == 2);
  CHECK(web.arms[0].commit == "a");
  CHECK(web.arms[1].commit == "b");
  // Laid out in file order: b first.
  CHECK(web.slices == std::vector<std::pair<uint32_t, int>>{{900'000, 1}, {1'000'000, 0}});
  CHECK(Labels(web.arms[1]) == std::vector<std::string>{"127.0.0.1:18101", "[::1]:18103"});
  CHECK(web.arms[1].instances[1].host == "::1");
  REQUIRE(web.arms[0].instances.size() == 1);
  CHECK(web.arms[0].instances[0].label == "localhost:18102");
  CHECK((web.arms[0].instances[0].host == "127.0.0.1" || web.arms[0].instances[0].host == "::1"));
  CHECK(web.arms[0].instances[0].port == 18102);
  CHECK(web.arms[0].stats_id == stats.ids.at({"web", "a"}));
  CHECK(t.by_host.at("example.com") == 0);
  CHECK(t.by_host.at("web.localhost") == 0);
  CHECK(t.default_app == 0);

  const AppRoute& api = *t.apps[1];
  CHECK(api.split_id == "default");
  CHECK_FALSE(api.allow_override);
  CHECK(api.slices.empty());  // every weight 0
  CHECK(api.arms[api.default_arm].commit == "v2");  // the first arm with upstreams
  CHECK(t.Match("api.localhost", "/")->name == "api");
  CHECK(t.Match("x", "/web/a")->name == "web");
  CHECK(t.Match("x", "/")->name == "web");
}

TEST_CASE("LoadStaticRoutes: every problem is listed with its JSON path", "[router][route_table]") {
  const char* json = R"({
    "default_app": "nope",
    "extra": 1,
    "apps": [
      {"name": "Web", "hosts": ["bad host", 3], "path_prefixes": ["shop", "/ok", "/a b", "/x/../y/", "/a\\b"], "split_id": "a b",
       "allow_override": "yes", "colour": "red",
       "arms": [{"commit": "a", "weight": 1000001, "upstreams": ["127.0.0.1"]},
                {"commit": "a", "weight": -1, "upstreams": ["127.0.0.1:0", ":80", "no-such-host.invalid:80"]},
                {"commit": "bad commit!", "weight": 1.5, "upstreams": "127.0.0.1:80"},
                {"weight": 1}]},
      {"name": "api", "arms": []},
      {"name": "api", "hosts": ["API.localhost"], "path_prefixes": ["/ok"], "arms": [{"commit": "c"}]},
      7
    ]})";
  auto r = LoadStaticRoutes(json, 1, TableOptions{}, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  const std::string& m = r.status().message();
  INFO(m);
  const char* expected[] = {
      "extra: unknown field (known: default_app, apps)",
      "apps[0].name: \"Web\" must match [a-z0-9][a-z0-9-]{0,62}",
      "apps[0].hosts[1]: must be a string",
      "apps[0].hosts[0]: \"bad host\" must be a host name or IP address",
      "apps[0].path_prefixes[0]: \"shop\" must start with '/'",
      "apps[0].path_prefixes[2]: \"/a b\" holds a space or control character",
      "apps[0].path_prefixes[3]: \"/x/../y/\" is not in normal form (requests are matched normalised: \"/y/\"); "
      "write that",
      "apps[0].path_prefixes[4]: \"/a\\b\" is refused in request paths (backslash in path), so it can never match",
      "apps[0].split_id: must be a string of 1..64 of [A-Za-z0-9._-]",
      "apps[0].allow_override: must be true or false",
      "apps[0].arms[0].weight: must be an integer 0..1000000",
      "apps[0].arms[0].upstreams[0]: \"127.0.0.1\" must be HOST:PORT",
      "apps[0].arms[1].commit: \"a\" is listed twice",
      "apps[0].arms[1].weight: must be an integer 0..1000000",
      "apps[0].arms[1].upstreams[0]: port 0 is out of range 1..65535",
      "apps[0].arms[1].upstreams[1]: \":80\" must be HOST:PORT",
      "apps[0].arms[1].upstreams[2]: cannot resolve \"no-such-host.invalid\"",
      "apps[0].arms[2].commit: must be 1..64 of [A-Za-z0-9._-]",
      "apps[0].arms[2].weight: must be an integer 0..1000000",
      "apps[0].arms[2].upstreams: must be an array of strings",
      "apps[0].arms[3].commit: must be 1..64 of [A-Za-z0-9._-]",
      "apps[1].arms: must be an array of at least one arm",
      "apps[2].name: \"api\" is listed twice",
      "apps[3]: must be an object",
      "default_app: \"nope\" is not one of the apps",
  };
  for (const char* e : expected) CHECK_THAT(m, Catch::Contains(e));
  CHECK_THAT(m, Catch::Contains("apps[0].colour: unknown field"));
  CHECK_THAT(m, !Catch::Contains("apps[0].path_prefixes[1]"));  // "/ok" is fine
}

TEST_CASE("LoadStaticRoutes: hosts and prefixes select one app only", "[router][route_table]") {
  const char* json = R"({"apps": [
      {"name": "web", "hosts": ["shop.example.com", "SHOP.example.com"], "path_prefixes": ["/x/", "/x/"],
       "arms": [{"commit": "a"}]},
      {"name": "shop", "hosts": ["Shop.Example.com", "web.localhost"], "path_prefixes": ["/x/"],
       "arms": [{"commit": "a"}]}]})";
  auto r = LoadStaticRoutes(json, 1, TableOptions{}, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        "apps[1].hosts[0]: \"Shop.Example.com\" already selects app \"web\"; "
        "apps[1].hosts[1]: \"web.localhost\" already selects app \"web\"; "
        "apps[1].path_prefixes[0]: \"/x/\" already selects app \"web\"");
}

TEST_CASE("LoadStaticRoutes: not JSON, not an object, options.default_app", "[router][route_table]") {
  auto bad = LoadStaticRoutes("{\"apps\": [", 1, TableOptions{}, nullptr);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::StartsWith("not valid JSON: parse error at line 1"));
  auto arr = LoadStaticRoutes("[]", 1, TableOptions{}, nullptr);
  REQUIRE_FALSE(arr.ok());
  CHECK(arr.status().message() == "routes: must be a JSON object with \"apps\"");
  CHECK(LoadStaticRoutes("{}", 1, TableOptions{}, nullptr).status().message() == "apps: required, an array");

  TableOptions opts;
  opts.default_app = "web";
  auto ok = LoadStaticRoutes(R"({"apps": [{"name": "web", "arms": [{"commit": "a", "weight": 1}]}]})", 1, opts,
                             nullptr);
  REQUIRE(ok.ok());
  CHECK((*ok)->default_app == 0);
  CHECK((*ok)->apps[0]->default_arm == -1);  // no upstreams
  CHECK((*ok)->apps[0]->ArmFor(3) == 0);     // weighted: its slice, even without instances
  opts.default_app = "other";
  auto missing = LoadStaticRoutes(R"({"apps": []})", 1, opts, nullptr);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() == "default_app: \"other\" is not one of the apps");
}

TEST_CASE("RoutesJson", "[router][route_table]") {
  v1::RouteConfig r = Route("web", {{kA, 3}, {kB, 1}, {kC, 0}});
  r.add_hosts("www.example.com");
  r.add_path_prefixes("/w/");
  auto t = BuildFromRegistry({Ep("web", kA, "10.0.0.1", 1), Ep("web", kB, "10.0.0.2", 2)}, {r}, 9, TableOptions{},
                             nullptr);
  auto doc = nlohmann::json::parse(RoutesJson(*t));
  CHECK(doc["revision"] == 9);
  CHECK(doc["default_app"].is_null());
  const auto& web = doc["apps"]["web"];
  CHECK(web["split_id"] == "default");
  CHECK(web["allow_override"] == false);
  CHECK(web["hosts"] == nlohmann::json::array({"web.localhost", "www.example.com"}));
  CHECK(web["path_prefixes"] == nlohmann::json::array({"/w/"}));
  CHECK(web["default_commit"] == kB);  // ties in registration time: the larger commit
  REQUIRE(web["arms"].size() == 3);
  CHECK(web["arms"][0]["commit"] == kA);
  CHECK(web["arms"][0]["weight"] == 3);
  CHECK(web["arms"][0]["share"] == 0.75);
  CHECK(web["arms"][0]["slices"] == nlohmann::json::parse("[[0, 750000]]"));
  CHECK(web["arms"][0]["instances"] == nlohmann::json::array({"10.0.0.1:1"}));
  CHECK(web["arms"][1]["share"] == 0.25);
  CHECK(web["arms"][1]["slices"] == nlohmann::json::parse("[[750000, 1000000]]"));
  CHECK(web["arms"][2]["commit"] == kC);
  CHECK(web["arms"][2]["share"] == 0.0);
  CHECK(web["arms"][2]["slices"] == nlohmann::json::array());
  CHECK(web["arms"][2]["instances"] == nlohmann::json::array());
}

TEST_CASE("EffectiveLayout: the config's slices if usable, else fresh in commit order", "[router][route_table]") {
  v1::RouteConfig r = Route("web", {{"bbbb", 1}, {"aaaa", 1}});
  CHECK(contract::EffectiveLayout(r) == std::vector<Slice>{{"aaaa", 0, 500'000}, {"bbbb", 500'000, 1'000'000}});
  auto* s = r.add_slices();
  s->set_commit("bbbb");
  s->set_ge(0);
  s->set_lt(1'000'000);
  CHECK(contract::EffectiveLayout(r) == std::vector<Slice>{{"bbbb", 0, 1'000'000}});
  CHECK(contract::EffectiveLayout(Route("web", {})).empty());
}

TEST_CASE("Path prefixes are indexed in normal form and shown as configured", "[router][route_table]") {
  // Requests are matched by their normalised path (router/uri.h), so a prefix
  // written with dot segments or encoded unreserved characters must be too.
  v1::RouteConfig shop = Route("shop", {});
  shop.add_path_prefixes("/shop/./%7eitems/");
  auto t = BuildFromRegistry({Ep("shop", kA, "10.0.0.1", 1)}, {shop}, 1, TableOptions{}, nullptr);
  REQUIRE(t->apps.size() == 1);
  CHECK(t->by_prefix == std::vector<std::pair<std::string, int>>{{"/shop/~items/", 0}});
  CHECK(t->selectors[0].path_prefixes == std::vector<std::string>{"/shop/./%7eitems/"});
  CHECK(t->Match("x.example", "/shop/~items/1") == t->apps[0].get());
}

AppRoute ArmsWith(std::vector<std::pair<std::string, int>> commits_and_instances) {
  AppRoute app;
  for (auto& [commit, n] : commits_and_instances) {
    Arm arm;
    arm.commit = commit;
    for (int i = 0; i < n; ++i) {
      Instance inst;
      inst.host = "127.0.0.1";
      inst.port = 1000 + i;
      inst.label = "127.0.0.1:" + std::to_string(1000 + i);
      arm.instances.push_back(inst);
    }
    app.arms.push_back(arm);
  }
  return app;
}

TEST_CASE("RetryArm: a request whose arm vanished goes on where a new request would", "[router][route_table]") {
  // The newer table of a rolling redeploy: the old commit's entries are gone, the new one runs.
  AppRoute app = ArmsWith({{"aaaa", 0}, {"bbbb", 2}});
  app.default_arm = 1;
  CHECK(app.RetryArm("bbbb", false) == 1);  // same commit, still running: always that one
  CHECK(app.RetryArm("aaaa", false) == 1);  // gone: the default (newest running) arm
  CHECK(app.RetryArm("cccc", false) == 1);  // not in the table at all
  CHECK(app.RetryArm("aaaa", true) == -1);  // in a flight: never another arm behind the experiment's back
  CHECK(app.RetryArm("bbbb", true) == 1);

  // With a split: the same commit if it runs, else the heaviest running arm.
  AppRoute split = ArmsWith({{"aaaa", 0}, {"bbbb", 1}, {"cccc", 1}});
  split.arms[1].weight = 10;
  split.arms[2].weight = 90;
  split.slices = {{100'000, 1}, {1'000'000, 2}};
  split.default_arm = 2;
  CHECK(split.RetryArm("aaaa", false) == 2);
  CHECK(split.RetryArm("bbbb", false) == 1);

  AppRoute dead = ArmsWith({{"aaaa", 0}});
  CHECK(dead.RetryArm("aaaa", false) == -1);
  CHECK(dead.FallbackArm() == -1);
}

TEST_CASE("FallbackArm: the flight's control if it runs, else the heaviest running arm", "[router][route_table]") {
  AppRoute app = ArmsWith({{"aaaa", 1}, {"bbbb", 1}, {"cccc", 0}});
  app.arms[0].weight = 10;
  app.arms[1].weight = 20;
  app.arms[2].weight = 70;
  CHECK(app.FallbackArm() == 1);  // cccc is heavier but has nothing running
  auto flight = std::make_shared<Flight>();
  flight->control_arm = 0;
  app.flight = flight;
  CHECK(app.FallbackArm() == 0);
  app.arms[0].instances.clear();
  CHECK(app.FallbackArm() == 1);
}

}  // namespace
}  // namespace skyport::router
