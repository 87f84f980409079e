#include <catch2/catch.hpp>

#include "cli/route_json.h"

using namespace skyport;
using namespace skyport::cli;

TEST_CASE("RouteFromJson reads proto and camelCase names", "[cli]") {
  auto r = RouteFromJson(R"({"app":"web","weights":{"abcd":90,"1234":10},"split_id":"s",
                             "hosts":["web.example"],"allowOverride":true})");
  REQUIRE(r.ok());
  CHECK(r->app() == "web");
  CHECK(r->weights().at("abcd") == 90);
  CHECK(r->split_id() == "s");
  CHECK(r->hosts_size() == 1);
  CHECK(r->allow_override());
}

TEST_CASE("RouteFromJson names an unknown field", "[cli]") {
  auto r = RouteFromJson(R"({"app":"web","wieghts":{}})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK_THAT(r.status().message(), Catch::StartsWith("route.wieghts: unknown field (known: app, "));
}

TEST_CASE("RouteFromJson rejects malformed documents and wrong types", "[cli]") {
  CHECK_FALSE(RouteFromJson("{").ok());
  CHECK_FALSE(RouteFromJson("[]").ok());
  CHECK_FALSE(RouteFromJson(R"({"weights":{"abcd":"lots"}})").ok());
  CHECK_FALSE(RouteFromJson(R"({"weights":{"abcd":-1}})").ok());
}

TEST_CASE("RouteToJson round-trips and shows defaults", "[cli]") {
  v1::RouteConfig route;
  route.set_app("web");
  (*route.mutable_weights())["abcd"] = 100;
  route.set_revision(12);
  std::string text = RouteToJson(route);
  CHECK(text.find("\"allow_override\": false") != std::string::npos);
  CHECK(text.find("\"split_id\": \"\"") != std::string::npos);
  CHECK(text.back() == '\n');
  auto back = RouteFromJson(text);
  REQUIRE(back.ok());
  CHECK(back->weights().at("abcd") == 100);
  CHECK(back->revision() == 12);
}
