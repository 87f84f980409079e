#include <catch2/catch.hpp>

#include "cli/port_table.h"

using namespace skyport;
using namespace skyport::cli;

namespace {

v1::Endpoint Ep(uint64_t id, std::string app, std::string commit, std::string role, uint32_t inst,
                std::string host, uint32_t port) {
  v1::Endpoint e;
  e.set_id(id);
  e.set_app(std::move(app));
  e.set_commit(std::move(commit));
  e.set_role(std::move(role));
  e.set_instance(inst);
  e.set_host(std::move(host));
  e.set_port(port);
  return e;
}

const std::string kC1 = "74336bc1db98aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kC2 = "0123456789abcdef0123456789abcdef01234567";

}  // namespace

TEST_CASE("PortTable has the seed's shape: commit -> role -> [host, port]", "[cli]") {
  std::vector<v1::Endpoint> eps = {
      Ep(3, "web", kC1, "say", 0, "127.0.0.1", 15200),
      Ep(2, "web", kC1, "http", 1, "127.0.0.1", 15195),
      Ep(1, "web", kC1, "http", 0, "127.0.0.1", 15194),
      Ep(4, "web", kC2, "http", 0, "10.0.0.2", 15000),
  };
  auto j = PortTable(eps, {});
  CHECK(j.dump() ==
        "{\"0123456789abcdef0123456789abcdef01234567\":{\"http\":[{\"host\":\"10.0.0.2\",\"port\":"
        "15000}]},\"74336bc1db98aaaaaaaaaaaaaaaaaaaaaaaaaaaa\":{\"http\":[{\"host\":\"127.0.0.1\","
        "\"port\":15194},{\"host\":\"127.0.0.1\",\"port\":15195}],\"say\":[{\"host\":\"127.0.0.1\","
        "\"port\":15200}]}}");
  // Pretty printing is nlohmann's dump(2), like seaport's `show`.
  CHECK(j.dump(2).find("\n  \"0123") != std::string::npos);
}

TEST_CASE("PortTable of nothing is {}", "[cli]") {
  CHECK(PortTable({}, {}).dump(2) == "{}");
}

TEST_CASE("PortTable --wide adds the details and the age", "[cli]") {
  auto e = Ep(9, "web", kC1, "http", 2, "h", 80);
  e.set_drone("d1");
  e.set_pid(4242);
  e.set_health(v1::HEALTH_PASSING);
  e.set_registered_unix_ms(1'000'000);
  auto j = PortTable({e}, {true, 1'065'500});
  auto entry = j[kC1]["http"][0];
  CHECK(entry["app"] == "web");
  CHECK(entry["instance"] == 2);
  CHECK(entry["drone"] == "d1");
  CHECK(entry["pid"] == 4242);
  CHECK(entry["health"] == "passing");
  CHECK(entry["id"] == 9);
  CHECK(entry["age"] == 65);
  CHECK(entry["host"] == "h");
  CHECK(entry["port"] == 80);
}

TEST_CASE("EndpointList holds every field", "[cli]") {
  auto e = Ep(9, "web", kC1, "http", 2, "h", 80);
  (*e.mutable_meta())["k"] = std::string("v");
  e.set_lease_id(77);
  auto j = EndpointList({e}, 0);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 1);
  CHECK(j[0]["commit"] == kC1);
  CHECK(j[0]["meta"]["k"] == "v");
  CHECK(j[0]["lease_id"] == 77);
  CHECK(j[0]["health"] == "unknown");
}

TEST_CASE("RenderTable aligns columns and cuts the commit", "[cli]") {
  auto e = Ep(12, "web", kC1, "http", 0, "127.0.0.1", 15194);
  e.set_registered_unix_ms(1'000);
  auto text = RenderTable({e}, 3'001'000);
  CHECK(text ==
        "APP  COMMIT        ROLE  INST  HOST       PORT   DRONE  PID  HEALTH   AGE  ID\n"
        "web  74336bc1db98  http  0     127.0.0.1  15194  -      -    unknown  50m  12\n");
}

TEST_CASE("FormatAge and AgeSeconds", "[cli]") {
  CHECK(FormatAge(0) == "0s");
  CHECK(FormatAge(59) == "59s");
  CHECK(FormatAge(61) == "1m");
  CHECK(FormatAge(7200) == "2h");
  CHECK(FormatAge(172800) == "2d");
  v1::Endpoint e;
  CHECK(AgeSeconds(e, 5'000) == 0);  // unknown registration time
  e.set_registered_unix_ms(10'000);
  CHECK(AgeSeconds(e, 5'000) == 0);  // clock skew: never negative
  CHECK(AgeSeconds(e, 12'999) == 2);
}
