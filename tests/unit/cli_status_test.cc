#include <catch2/catch.hpp>

#include "cli/status_report.h"

using namespace skyport;
using namespace skyport::cli;

namespace {

constexpr int64_t kNow = 1'780'000'000'000;

v1::HubInfoResponse HubInfo(std::string role, std::string leader = "") {
  v1::HubInfoResponse r;
  r.set_version("skyport-hub 0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)");
  r.set_role(std::move(role));
  r.set_leader_grpc(std::move(leader));
  return r;
}

v1::DroneInfo Drone(std::string name, bool connected, int64_t seen) {
  v1::DroneInfo d;
  d.set_name(std::move(name));
  d.set_advertise("10.0.0.5");
  d.set_connected(connected);
  d.set_last_seen_unix_ms(seen);
  d.set_version("skyport-drone 0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)");
  return d;
}

RouterProbe Router(std::string name, bool healthy) {
  RouterProbe p;
  p.entry.set_app("skyport-router");
  p.entry.set_commit("0123456789ab");
  p.entry.set_host("127.0.0.1");
  p.entry.set_port(6003);
  (*p.entry.mutable_meta())["name"] = name;
  (*p.entry.mutable_meta())["version"] = "skyport-router 0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)";
  p.healthy = healthy;
  if (!healthy) p.error = "connect: Connection refused";
  return p;
}

StatusInputs AllUp() {
  StatusInputs in;
  in.now_ms = kNow;
  in.hubs = {{"127.0.0.1:6001", HubInfo("single"), ""}};
  v1::RegistryInfoResponse reg;
  reg.set_version("skyport-registry 0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)");
  reg.set_store("sqlite");
  in.registries = {{"127.0.0.1:6000", reg, ""}};
  in.drones = std::vector<v1::DroneInfo>{Drone("d2", true, kNow - 5000), Drone("d1", true, kNow - 1000)};
  in.routers = std::vector<RouterProbe>{Router("edge-1", true)};
  return in;
}

}  // namespace

TEST_CASE("BuildStatus: everything up", "[cli][status]") {
  const StatusReport r = BuildStatus(AllUp());
  CHECK(r.ok());
  REQUIRE(r.rows.size() == 5);
  CHECK(r.rows[0].kind == "hub");
  CHECK(r.rows[0].state == "up");
  CHECK(r.rows[1].kind == "registry");
  CHECK(r.rows[1].note == "store sqlite");
  CHECK(r.rows[2].name == "d1");  // drones by name
  CHECK(r.rows[4].kind == "router");
  CHECK(r.rows[4].name == "edge-1");
  const std::string table = RenderStatusTable(r, kNow);
  CHECK(table.find("0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-07)") != std::string::npos);
  CHECK(table.find("skyport-hub 0.1.0") == std::string::npos);  // the program name is the KIND column's
  CHECK(table.substr(table.size() - 7) == "all up\n");
  const auto json = StatusJson(r, kNow);
  CHECK(json["ok"] == true);
  CHECK(json["components"].size() == 5);
  CHECK(json["problems"].empty());
}

TEST_CASE("BuildStatus: a drone, a router, a hub and a registry down are each named", "[cli][status]") {
  StatusInputs in = AllUp();
  in.drones = std::vector<v1::DroneInfo>{Drone("d1", true, kNow), Drone("d2", false, kNow - 12'000)};
  in.routers = std::vector<RouterProbe>{Router("edge-1", false)};
  in.hubs.push_back({"127.0.0.1:7001", std::nullopt, "UNAVAILABLE: failed to connect"});
  in.registries[0].info.reset();
  in.registries[0].error = "UNAVAILABLE: failed to connect";
  const StatusReport r = BuildStatus(in);
  CHECK(!r.ok());
  const std::vector<std::string> want = {
      "hub 127.0.0.1:7001 is down: UNAVAILABLE: failed to connect",
      "registry 127.0.0.1:6000 is down: UNAVAILABLE: failed to connect",
      "drone d2 is down (not attached, last seen 12s ago)",
      "router edge-1 (127.0.0.1:6003) is down: connect: Connection refused",
  };
  CHECK(r.problems == want);
  const std::string table = RenderStatusTable(r, kNow);
  CHECK(table.find("DOWN: drone d2 is down") != std::string::npos);
  CHECK(StatusJson(r, kNow)["ok"] == false);
}

TEST_CASE("BuildStatus: several hubs, leader and standby; none leading is a problem", "[cli][status]") {
  StatusInputs in = AllUp();
  in.hubs = {{"a:6001", HubInfo("leader"), ""}, {"b:6001", HubInfo("standby", "a:6001"), ""}};
  StatusReport r = BuildStatus(in);
  CHECK(r.ok());
  CHECK(r.rows[0].state == "leader");
  CHECK(r.rows[1].state == "standby");
  CHECK(r.rows[1].note == "leader: a:6001");
  in.hubs = {{"b:6001", HubInfo("standby"), ""}};
  r = BuildStatus(in);
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].find("no hub leads") == 0);
}

TEST_CASE("BuildStatus: drones or routers unknown when no hub or registry answered", "[cli][status]") {
  StatusInputs in = AllUp();
  in.drones.reset();
  in.drones_error = "the hub did not say: UNAVAILABLE: x";
  in.routers.reset();
  in.routers_error = "the registry did not say: UNAVAILABLE: y";
  const StatusReport r = BuildStatus(in);
  CHECK(r.problems == std::vector<std::string>{"drones: unknown (the hub did not say: UNAVAILABLE: x)",
                                               "routers: unknown (the registry did not say: UNAVAILABLE: y)"});
  CHECK(ShortVersion("skyport 0.1.0 (commit x)") == "0.1.0 (commit x)");
  CHECK(ShortVersion("") == "");
  CHECK(ShortVersion("other 1") == "other 1");
}
