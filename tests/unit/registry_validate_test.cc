#include <catch2/catch.hpp>

#include <google/protobuf/unknown_field_set.h>

#include <functional>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "contract/route.h"
#include "contract/unknown_fields.h"
#include "registry/validate.h"

namespace skyport::registry {
namespace {

// The route rules are the route contract now; their cases stay here, beside
// the rest of what the registry refuses.
using contract::RejectUnknownFields;
using contract::ValidateRoute;

v1::Endpoint GoodEndpoint() {
  v1::Endpoint ep;
  ep.set_app("web");
  ep.set_commit("abcdef12");
  ep.set_role("http");
  ep.set_host("10.0.0.1");
  ep.set_port(8080);
  ep.set_drone("drone-1");
  ep.set_pid(1234);
  ep.set_lease_id(1);
  ep.set_health(v1::HEALTH_PASSING);
  (*ep.mutable_meta())["k"] = "v";
  return ep;
}

v1::RouteConfig GoodRoute() {
  v1::RouteConfig r;
  r.set_app("web");
  (*r.mutable_weights())["abcd"] = 90;
  (*r.mutable_weights())["beef"] = 10;
  r.set_split_id("test-1.a_b");
  r.add_hosts("web.example.com");
  return r;
}

v1::AllocateRequest GoodAllocate() {
  v1::AllocateRequest a;
  a.set_host("10.0.0.1");
  a.set_app("web");
  a.set_commit("abcd");
  a.set_role("http");
  a.set_lease_id(3);
  return a;
}

TEST_CASE("Validate: good messages pass", "[registry][validate]") {
  CHECK(ValidateEndpoint(GoodEndpoint()).ok());
  CHECK(ValidateRoute(GoodRoute()).ok());
  CHECK(ValidateAllocate(GoodAllocate()).ok());
  v1::RouteConfig no_weights;
  no_weights.set_app("web");
  CHECK(ValidateRoute(no_weights).ok());
  v1::Endpoint no_drone = GoodEndpoint();
  no_drone.clear_drone();
  CHECK(ValidateEndpoint(no_drone).ok());
}

TEST_CASE("ValidateEndpoint: each bad field is named", "[registry][validate]") {
  struct Row {
    const char* what;
    std::function<void(v1::Endpoint&)> mutate;
    std::string starts;
  };
  const Row rows[] = {
      {"app", [](v1::Endpoint& e) { e.set_app("Web"); }, "endpoint.app: \"Web\""},
      {"commit", [](v1::Endpoint& e) { e.set_commit("xyz"); }, "endpoint.commit: \"xyz\""},
      {"role", [](v1::Endpoint& e) { e.set_role(""); }, "endpoint.role: \"\""},
      {"host", [](v1::Endpoint& e) { e.set_host("-h"); }, "endpoint.host: \"-h\""},
      {"port 0", [](v1::Endpoint& e) { e.set_port(0); }, "endpoint.port: 0 is out of range"},
      {"port big", [](v1::Endpoint& e) { e.set_port(70000); }, "endpoint.port: 70000 is out of range"},
      {"drone", [](v1::Endpoint& e) { e.set_drone("_d"); }, "endpoint.drone: \"_d\""},
      {"pid", [](v1::Endpoint& e) { e.set_pid(-1); }, "endpoint.pid: -1 is negative"},
      {"lease", [](v1::Endpoint& e) { e.set_lease_id(0); }, "endpoint.lease_id: required"},
      {"health", [](v1::Endpoint& e) { e.set_health(static_cast<v1::Health>(17)); }, "endpoint.health: unknown value"},
      {"meta key", [](v1::Endpoint& e) { (*e.mutable_meta())[""] = "x"; }, "endpoint.meta: key \"\" must be 1..128 bytes"},
      {"meta long key", [](v1::Endpoint& e) { (*e.mutable_meta())[std::string(129, 'k')] = "x"; }, "endpoint.meta: key \"kkk"},
      {"meta value", [](v1::Endpoint& e) { (*e.mutable_meta())["big"] = std::string(4097, 'v'); },
       "endpoint.meta[big]: value longer than 4096 bytes"},
      {"meta count",
       [](v1::Endpoint& e) {
         for (int i = 0; i < 65; ++i) (*e.mutable_meta())[std::to_string(i)] = "";
       },
       "endpoint.meta: 66 entries, at most 64"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    v1::Endpoint ep = GoodEndpoint();
    r.mutate(ep);
    Status s = ValidateEndpoint(ep);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::StartsWith(r.starts));
  }
  // Edges that are fine.
  v1::Endpoint edge = GoodEndpoint();
  (*edge.mutable_meta())[std::string(128, 'k')] = std::string(4096, 'v');
  edge.set_port(65535);
  edge.set_pid(0);
  CHECK(ValidateEndpoint(edge).ok());
}

TEST_CASE("ValidateEndpoint: every problem is reported, in order", "[registry][validate]") {
  v1::Endpoint ep;  // everything missing
  Status s = ValidateEndpoint(ep);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() ==
        "endpoint.app: \"\" must match [a-z0-9][a-z0-9-]{0,62}; "
        "endpoint.commit: \"\" must be a commit hash: 4 to 64 lowercase hex characters; "
        "endpoint.role: \"\" must match [a-z0-9][a-z0-9-]{0,62}; "
        "endpoint.host: \"\" must be a host name or IP address; "
        "endpoint.port: 0 is out of range 1..65535; "
        "endpoint.lease_id: required (Grant a lease first)");
}

TEST_CASE("ValidateRoute: each bad field is named; all reported", "[registry][validate]") {
  struct Row {
    const char* what;
    std::function<void(v1::RouteConfig&)> mutate;
    std::string message;
  };
  const Row rows[] = {
      {"app", [](v1::RouteConfig& r) { r.set_app("-x"); }, "route.app: \"-x\" must match [a-z0-9][a-z0-9-]{0,62}"},
      {"bad commit key", [](v1::RouteConfig& r) { (*r.mutable_weights())["XYZ"] = 1; },
       "route.weights[XYZ]: \"XYZ\" must be a commit hash: 4 to 64 lowercase hex characters"},
      {"weight too big", [](v1::RouteConfig& r) { (*r.mutable_weights())["abcd"] = 1'000'001; },
       "route.weights[abcd]: 1000001 exceeds 1000000"},
      {"all zero",
       [](v1::RouteConfig& r) {
         (*r.mutable_weights())["abcd"] = 0;
         (*r.mutable_weights())["beef"] = 0;
       },
       "route.weights: all weights are 0; at least one must be > 0"},
      {"split id", [](v1::RouteConfig& r) { r.set_split_id("a b"); },
       "route.split_id: \"a b\" must be at most 64 of [A-Za-z0-9._-]"},
      {"split id long", [](v1::RouteConfig& r) { r.set_split_id(std::string(65, 's')); },
       "route.split_id: \"" + std::string(65, 's') + "\" must be at most 64 of [A-Za-z0-9._-]"},
      {"host", [](v1::RouteConfig& r) { r.add_hosts("bad host"); },
       "route.hosts[1]: \"bad host\" must be a host name or IP address"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    v1::RouteConfig route = GoodRoute();
    r.mutate(route);
    Status s = ValidateRoute(route);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == r.message);
  }
  v1::RouteConfig many = GoodRoute();
  many.set_app("");
  many.add_hosts(".x");
  many.set_split_id("!");
  Status s = ValidateRoute(many);
  CHECK_THAT(s.message(), Catch::Contains("route.app:") && Catch::Contains("route.split_id:") &&
                              Catch::Contains("route.hosts[1]:"));
  v1::RouteConfig max = GoodRoute();
  (*max.mutable_weights())["abcd"] = 1'000'000;
  max.set_split_id(std::string(64, 's'));
  CHECK(ValidateRoute(max).ok());
}

v1::RouteConfig SplitRoute(std::initializer_list<std::tuple<const char*, uint32_t, uint32_t>> slices) {
  v1::RouteConfig r = GoodRoute();  // abcd: 90, beef: 10
  for (const auto& [commit, ge, lt] : slices) {
    auto* s = r.add_slices();
    s->set_commit(commit);
    s->set_ge(ge);
    s->set_lt(lt);
  }
  return r;
}

TEST_CASE("ValidateRoute: slices tile [0, 1000000) in order, each of a weighted commit", "[registry][validate]") {
  CHECK(ValidateRoute(SplitRoute({{"abcd", 0, 900'000}, {"beef", 900'000, 1'000'000}})).ok());
  CHECK(ValidateRoute(SplitRoute({{"beef", 0, 50'000}, {"abcd", 50'000, 950'000}, {"beef", 950'000, 1'000'000}})).ok());
  CHECK(ValidateRoute(SplitRoute({{"abcd", 0, 1'000'000}})).ok());  // beef weighted but sliceless: allowed

  struct Row {
    const char* what;
    v1::RouteConfig route;
    std::string message;
  };
  v1::RouteConfig zero = SplitRoute({{"abcd", 0, 900'000}, {"beef", 900'000, 1'000'000}});
  (*zero.mutable_weights())["beef"] = 0;
  const Row rows[] = {
      {"gap", SplitRoute({{"abcd", 0, 10}, {"beef", 11, 1'000'000}}), "route.slices[1]: starts at 11, expected 10"},
      {"overlap", SplitRoute({{"abcd", 0, 10}, {"beef", 5, 1'000'000}}), "route.slices[1]: starts at 5, expected 10"},
      {"not from 0", SplitRoute({{"abcd", 3, 1'000'000}}), "route.slices[0]: starts at 3, expected 0"},
      {"short", SplitRoute({{"abcd", 0, 999'999}}),
       "route.slices: end at 999999, expected 1000000 (slices must cover [0, 1000000) in order)"},
      {"empty slice", SplitRoute({{"abcd", 0, 0}, {"beef", 0, 1'000'000}}),
       "route.slices[0]: [0, 0) is empty or goes past 1000000"},
      {"past the end", SplitRoute({{"abcd", 0, 1'000'001}}),
       "route.slices[0]: [0, 1000001) is empty or goes past 1000000; "
       "route.slices: end at 1000001, expected 1000000 (slices must cover [0, 1000000) in order)"},
      {"unweighted commit", SplitRoute({{"abcd", 0, 10}, {"cafe", 10, 1'000'000}}),
       "route.slices[1]: commit \"cafe\" needs a weight > 0 in route.weights"},
      {"zero weight", zero, "route.slices[1]: commit \"beef\" needs a weight > 0 in route.weights"},
      {"unsorted", SplitRoute({{"beef", 900'000, 1'000'000}, {"abcd", 0, 900'000}}),
       "route.slices[0]: starts at 900000, expected 0; route.slices[1]: starts at 0, expected 1000000; "
       "route.slices: end at 900000, expected 1000000 (slices must cover [0, 1000000) in order)"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    Status s = ValidateRoute(r.route);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == r.message);
  }
}

TEST_CASE("ValidateRoute: path prefixes", "[registry][validate]") {
  v1::RouteConfig good = GoodRoute();
  good.add_path_prefixes("/");
  good.add_path_prefixes("/shop/");
  good.add_path_prefixes("/" + std::string(255, 'p'));
  CHECK(ValidateRoute(good).ok());

  struct Row {
    const char* what;
    std::string prefix;
    std::string message;
  };
  const Row rows[] = {
      {"empty", "", "route.path_prefixes[0]: \"\" must start with '/'"},
      {"relative", "shop/", "route.path_prefixes[0]: \"shop/\" must start with '/'"},
      {"long", "/" + std::string(256, 'p'), "route.path_prefixes[0]: longer than 256 bytes"},
      {"space", "/a b", "route.path_prefixes[0]: \"/a b\" holds a space or control character"},
      // Echoed control characters are escaped (core/problems.h: ClipEcho).
      {"tab", "/a\tb", "route.path_prefixes[0]: \"/a\\x09b\" holds a space or control character"},
      {"del", "/a\x7f", "route.path_prefixes[0]: \"/a\\x7f\" holds a space or control character"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    v1::RouteConfig route = GoodRoute();
    route.add_path_prefixes(r.prefix);
    CHECK(ValidateRoute(route).message() == r.message);
  }
  v1::RouteConfig twice = GoodRoute();
  twice.add_path_prefixes("/a/");
  twice.add_path_prefixes("/a/");
  CHECK(ValidateRoute(twice).message() == "route.path_prefixes[1]: \"/a/\" is listed twice");

  v1::RouteConfig many = GoodRoute();
  for (int i = 0; i < 32; ++i) many.add_path_prefixes("/p" + std::to_string(i));
  CHECK(ValidateRoute(many).ok());
  many.add_path_prefixes("/p32");
  CHECK(ValidateRoute(many).message() == "route.path_prefixes: 33 entries, at most 32");
}

TEST_CASE("ValidateRoute: path prefixes must be in the normal form requests are matched in", "[registry][validate]") {
  v1::RouteConfig good = GoodRoute();
  good.add_path_prefixes("/%C3%A9/a%20b/.well-known/x..y");  // normal form: kept encodings, dots inside segments
  CHECK(ValidateRoute(good).ok());

  struct Row {
    const char* what;
    std::string prefix;
    std::string message;
  };
  const Row rows[] = {
      // Not in the normal form requests are matched in (core/uri_path.h): never matches as written.
      {"dotdot", "/shop/../admin/",
       "route.path_prefixes[0]: \"/shop/../admin/\" is not in normal form (requests are matched normalised: "
       "\"/admin/\"); write that"},
      {"dot", "/a/./b", "route.path_prefixes[0]: \"/a/./b\" is not in normal form (requests are matched normalised: "
                       "\"/a/b\"); write that"},
      {"unreserved", "/%7Euser/", "route.path_prefixes[0]: \"/%7Euser/\" is not in normal form (requests are matched "
                                  "normalised: \"/~user/\"); write that"},
      {"lowercase hex", "/%c3%a9/", "route.path_prefixes[0]: \"/%c3%a9/\" is not in normal form (requests are matched "
                                    "normalised: \"/%C3%A9/\"); write that"},
      {"encoded slash", "/a%2Fb/", "route.path_prefixes[0]: \"/a%2Fb/\" is refused in request paths (encoded slash "
                                   "(%2F or %5C) in path), so it can never match"},
      {"backslash", "/a\\b/", "route.path_prefixes[0]: \"/a\\b/\" is refused in request paths (backslash in path), so "
                             "it can never match"},
      {"bad encoding", "/a%zz", "route.path_prefixes[0]: \"/a%zz\" is refused in request paths (invalid "
                                "percent-encoding in path), so it can never match"},
      {"empty segment", "/a//b/", "route.path_prefixes[0]: \"/a//b/\" holds an empty segment (\"//\")"},
      {"query", "/a?b=1", "route.path_prefixes[0]: \"/a?b=1\" holds '?' or '#': a prefix matches the path, without "
                          "query or fragment"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    v1::RouteConfig route = GoodRoute();
    route.add_path_prefixes(r.prefix);
    CHECK(ValidateRoute(route).message() == r.message);
  }
}

const std::string kControl = "aaaa1111";
const std::string kTreatment = "bbbb2222";

// A route as the hub's control tower writes it while a flight runs.
v1::RouteConfig FlightRoute() {
  v1::RouteConfig r;
  r.set_app("web");
  r.set_split_id("checkout-v2.1");
  (*r.mutable_weights())[kControl] = 50;
  (*r.mutable_weights())[kTreatment] = 50;
  v1::FlightRoute* f = r.mutable_flight();
  f->set_name("checkout-v2");
  f->set_id("checkout-v2.1");
  f->set_control(kControl);
  (*f->mutable_arms())["control"] = kControl;
  (*f->mutable_arms())["treatment"] = kTreatment;
  f->mutable_filter()->add_channels("beta");
  f->mutable_filter()->add_oses("linux");
  f->mutable_filter()->add_oses("mac");
  f->mutable_filter()->add_locales("en-US");
  f->mutable_filter()->add_locales("de");
  (*f->mutable_filter()->mutable_headers())["x-beta"] = "1";
  f->set_range_key("uid");
  f->set_range_ge(0);
  f->set_range_lt(200'000);
  f->set_end_by_unix_ms(1'900'000'000'000);
  return r;
}

TEST_CASE("ValidateRoute: a flight", "[registry][validate]") {
  CHECK(ValidateRoute(FlightRoute()).ok());
  v1::RouteConfig minimal = FlightRoute();
  minimal.mutable_flight()->clear_filter();
  minimal.mutable_flight()->clear_range_key();  // "" = uid
  minimal.mutable_flight()->set_range_lt(1'000'000);
  minimal.mutable_flight()->clear_end_by_unix_ms();
  (*minimal.mutable_weights())[kControl] = 0;   // everyone enrolled in the treatment: allowed
  CHECK(ValidateRoute(minimal).ok());
  v1::RouteConfig abbreviated = FlightRoute();  // weight keys may abbreviate the arms' commits
  abbreviated.clear_weights();
  (*abbreviated.mutable_weights())["aaaa"] = 1;
  (*abbreviated.mutable_weights())["bbbb2222"] = 1;
  CHECK(ValidateRoute(abbreviated).ok());
  v1::RouteConfig by_cookie = FlightRoute();
  by_cookie.mutable_flight()->set_range_key("session_id");
  CHECK(ValidateRoute(by_cookie).ok());

  struct Row {
    const char* what;
    std::function<void(v1::RouteConfig&)> mutate;
    std::string message;
  };
  const Row rows[] = {
      {"name", [](v1::RouteConfig& r) { r.mutable_flight()->set_name("Checkout"); },
       "route.flight.name: \"Checkout\" must match [a-z0-9][a-z0-9-]{0,62}"},
      {"no id", [](v1::RouteConfig& r) { r.mutable_flight()->clear_id(); },
       "route.flight.id: \"\" must be 1 to 64 of [A-Za-z0-9._-]"},
      {"id syntax", [](v1::RouteConfig& r) { r.mutable_flight()->set_id("a b"); },
       "route.flight.id: \"a b\" must be 1 to 64 of [A-Za-z0-9._-]"},
      {"id != split id", [](v1::RouteConfig& r) { r.set_split_id("other"); },
       "route.flight.id: \"checkout-v2.1\" must equal route.split_id (\"other\"): enrolled users are split by it"},
      {"control syntax",
       [](v1::RouteConfig& r) { r.mutable_flight()->set_control("AAAA1111"); },
       "route.flight.control: \"AAAA1111\" must be a commit hash: 4 to 64 lowercase hex characters"},
      {"control not an arm", [](v1::RouteConfig& r) { r.mutable_flight()->set_control("cccc3333"); },
       "route.flight.control: \"cccc3333\" is not the commit of any of route.flight.arms"},
      {"one arm", [](v1::RouteConfig& r) {
         r.mutable_flight()->mutable_arms()->erase("treatment");
         r.mutable_weights()->erase(kTreatment);
       },
       "route.flight.arms: 1 arms; a flight has 2 to 16, its control's included"},
      {"arm name", [](v1::RouteConfig& r) { (*r.mutable_flight()->mutable_arms())["Big"] = kTreatment; },
       "route.flight.arms: name \"Big\" must match [a-z0-9][a-z0-9_-]{0,31}"},
      {"arm commit", [](v1::RouteConfig& r) { (*r.mutable_flight()->mutable_arms())["treatment"] = "main"; },
       "route.flight.arms[treatment]: \"main\" must be a commit hash: 4 to 64 lowercase hex characters; "
       "route.weights[bbbb2222]: not the commit of any of route.flight.arms (a flight splits its users over its "
       "arms)"},
      {"no weights", [](v1::RouteConfig& r) { r.clear_weights(); },
       "route.weights: a flight needs weights over its arms"},
      {"weight outside the flight", [](v1::RouteConfig& r) { (*r.mutable_weights())["cccc3333"] = 5; },
       "route.weights[cccc3333]: not the commit of any of route.flight.arms (a flight splits its users over its "
       "arms)"},
      {"channel", [](v1::RouteConfig& r) { r.mutable_flight()->mutable_filter()->add_channels("a b"); },
       "route.flight.filter.channels[1]: \"a b\" must be 1 to 64 characters without spaces or control characters"},
      {"empty channel", [](v1::RouteConfig& r) { r.mutable_flight()->mutable_filter()->add_channels(""); },
       "route.flight.filter.channels[1]: \"\" must be 1 to 64 characters without spaces or control characters"},
      {"os", [](v1::RouteConfig& r) { r.mutable_flight()->mutable_filter()->add_oses("macos"); },
       "route.flight.filter.oses[2]: \"macos\" must be one of android, ios, chromeos, windows, mac, linux"},
      {"locale", [](v1::RouteConfig& r) { r.mutable_flight()->mutable_filter()->add_locales("en_US"); },
       "route.flight.filter.locales[2]: \"en_US\" must be a language tag like \"de\" or \"en-US\" "
       "([A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)"},
      {"locale star", [](v1::RouteConfig& r) { r.mutable_flight()->mutable_filter()->add_locales("*"); },
       "route.flight.filter.locales[2]: \"*\" must be a language tag like \"de\" or \"en-US\" "
       "([A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)"},
      {"header name", [](v1::RouteConfig& r) { (*r.mutable_flight()->mutable_filter()->mutable_headers())["X-Beta"] = "1"; },
       "route.flight.filter.headers: name \"X-Beta\" must be a lowercase HTTP token"},
      {"header name syntax",
       [](v1::RouteConfig& r) { (*r.mutable_flight()->mutable_filter()->mutable_headers())["x beta"] = "1"; },
       "route.flight.filter.headers: name \"x beta\" must be a lowercase HTTP token"},
      {"header value",
       [](v1::RouteConfig& r) { (*r.mutable_flight()->mutable_filter()->mutable_headers())["x-beta"] = "1\r\n"; },
       "route.flight.filter.headers[x-beta]: the value must be at most 1024 bytes, without control characters or "
       "surrounding blanks"},
      {"range key", [](v1::RouteConfig& r) { r.mutable_flight()->set_range_key("a;b"); },
       "route.flight.range_key: \"a;b\" must be \"uid\" or 1 to 64 of [A-Za-z0-9_-] (a cookie or header name)"},
      {"empty range", [](v1::RouteConfig& r) { r.mutable_flight()->set_range_ge(200'000); },
       "route.flight.range_lt: [200000, 200000) must satisfy 0 <= range_ge < range_lt <= 1000000"},
      {"unset range", [](v1::RouteConfig& r) { r.mutable_flight()->clear_range_lt(); },
       "route.flight.range_lt: [0, 0) must satisfy 0 <= range_ge < range_lt <= 1000000"},
      {"range past the end", [](v1::RouteConfig& r) { r.mutable_flight()->set_range_lt(1'000'001); },
       "route.flight.range_lt: [0, 1000001) must satisfy 0 <= range_ge < range_lt <= 1000000"},
      {"end by", [](v1::RouteConfig& r) { r.mutable_flight()->set_end_by_unix_ms(-1); },
       "route.flight.end_by_unix_ms: -1 is negative (0 = no end)"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    v1::RouteConfig route = FlightRoute();
    r.mutate(route);
    Status s = ValidateRoute(route);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == r.message);
  }

  // Everything wrong at once: every problem, each with its field.
  v1::RouteConfig bad = FlightRoute();
  v1::FlightRoute* f = bad.mutable_flight();
  f->set_name("");
  f->set_id("x");
  f->mutable_filter()->add_oses("beos");
  f->set_range_ge(5);
  f->set_range_lt(4);
  f->set_end_by_unix_ms(-5);
  const std::string m = ValidateRoute(bad).message();
  CHECK_THAT(m, Catch::Contains("route.flight.name:") && Catch::Contains("route.flight.id:") &&
                    Catch::Contains("route.flight.filter.oses[2]:") && Catch::Contains("route.flight.range_lt:") &&
                    Catch::Contains("route.flight.end_by_unix_ms:"));

  // Limits on the filter's lists.
  v1::RouteConfig many = FlightRoute();
  for (int i = 0; i < 32; ++i) many.mutable_flight()->mutable_filter()->add_channels(fmt::format("c{}", i));
  CHECK(ValidateRoute(many).message() == "route.flight.filter.channels: 33 entries, at most 32");

  // A flight's unknown fields are named with their path.
  v1::RouteConfig unknown = FlightRoute();
  auto* nested = unknown.mutable_flight()->mutable_filter();
  nested->GetReflection()->MutableUnknownFields(nested)->AddVarint(40, 1);
  CHECK(ValidateRoute(unknown).message() == "route.flight.filter: unknown field #40");
}

TEST_CASE("ValidateAllocate: each field named; all reported", "[registry][validate]") {
  v1::AllocateRequest a;
  Status s = ValidateAllocate(a);
  CHECK(s.message() ==
        "host: \"\" must be a host name or IP address; "
        "app: \"\" must match [a-z0-9][a-z0-9-]{0,62}; "
        "commit: \"\" must be a commit hash: 4 to 64 lowercase hex characters; "
        "role: \"\" must match [a-z0-9][a-z0-9-]{0,62}; "
        "lease_id: required (Grant a lease first)");
  v1::AllocateRequest one = GoodAllocate();
  one.set_commit("abc");
  CHECK(ValidateAllocate(one).message() ==
        "commit: \"abc\" must be a commit hash: 4 to 64 lowercase hex characters");
}

TEST_CASE("RejectUnknownFields: top level and nested, with field paths", "[registry][validate]") {
  v1::Endpoint ep = GoodEndpoint();
  ep.GetReflection()->MutableUnknownFields(&ep)->AddVarint(99, 1);
  CHECK(RejectUnknownFields(ep, "endpoint").message() == "endpoint: unknown field #99");
  Status s = ValidateEndpoint(ep);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "endpoint: unknown field #99");

  v1::AllocateRequest a = GoodAllocate();
  a.GetReflection()->MutableUnknownFields(&a)->AddVarint(7, 1);
  a.GetReflection()->MutableUnknownFields(&a)->AddLengthDelimited(8, "x");
  CHECK(ValidateAllocate(a).message() == "allocate: unknown field #7; allocate: unknown field #8");

  v1::RouteConfig r = GoodRoute();
  r.GetReflection()->MutableUnknownFields(&r)->AddVarint(50, 0);
  CHECK(ValidateRoute(r).message() == "route: unknown field #50");

  v1::RegisterRequest req;
  *req.mutable_endpoint() = GoodEndpoint();
  auto* nested = req.mutable_endpoint();
  nested->GetReflection()->MutableUnknownFields(nested)->AddVarint(42, 3);
  CHECK(RejectUnknownFields(req, "req").message() == "req.endpoint: unknown field #42");

  v1::WatchResponse w;
  w.add_endpoints();
  auto* second = w.add_endpoints();
  second->GetReflection()->MutableUnknownFields(second)->AddFixed32(13, 1);
  CHECK(RejectUnknownFields(w, "watch").message() == "watch.endpoints[1]: unknown field #13");

  CHECK(RejectUnknownFields(GoodEndpoint(), "endpoint").ok());
}

}  // namespace
}  // namespace skyport::registry

namespace skyport::registry {
namespace {

TEST_CASE("RegisteredAt: the caller's deploy time within the skew bound, else now", "[registry][validate]") {
  v1::Endpoint ep;
  const int64_t now = 1'700'000'000'000;
  CHECK(RegisteredAt(ep, now) == now);  // not given
  ep.set_registered_unix_ms(now - 3'600'000);
  CHECK(RegisteredAt(ep, now) == now - 3'600'000);  // an hour-old deploy: kept
  ep.set_registered_unix_ms(now + kMaxRegisteredAheadMs);
  CHECK(RegisteredAt(ep, now) == now + kMaxRegisteredAheadMs);  // a clock a little ahead
  ep.set_registered_unix_ms(now + kMaxRegisteredAheadMs + 1);
  CHECK(RegisteredAt(ep, now) == now);  // too far ahead: ours
  ep.set_registered_unix_ms(-5);
  CHECK(RegisteredAt(ep, now) == now);
}

}  // namespace
}  // namespace skyport::registry
