#include <catch2/catch.hpp>

#include "cli/columns.h"
#include "cli/hub_tables.h"

using namespace skyport;
using namespace skyport::cli;

namespace {

constexpr int64_t kNow = 1'780'000'000'000;
const std::string kC1 = "74336bc1db98aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kC2 = "0123456789abcdef0123456789abcdef01234567";

v1::ProcessStatus Proc(std::string app, std::string commit, std::string role, uint32_t inst,
                       std::string drone, uint32_t port) {
  v1::ProcessStatus p;
  p.set_app(std::move(app));
  p.set_commit(std::move(commit));
  p.set_role(std::move(role));
  p.set_instance(inst);
  p.set_drone(std::move(drone));
  p.set_port(port);
  p.set_pid(100 + port % 100);
  p.set_state("running");
  p.set_started_unix_ms(kNow - 185'000);
  return p;
}

v1::DroneInfo Drone(std::string name, std::string advertise) {
  v1::DroneInfo d;
  d.set_name(std::move(name));
  d.set_advertise(std::move(advertise));
  d.set_connected(true);
  d.set_last_seen_unix_ms(kNow - 2'500);
  return d;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

}  // namespace

TEST_CASE("FormatDuration and SecondsSince", "[cli]") {
  CHECK(FormatDuration(-1) == "-");
  CHECK(FormatDuration(0) == "0s");
  CHECK(FormatDuration(42) == "42s");
  CHECK(FormatDuration(185) == "3m05s");
  CHECK(FormatDuration(7440) == "2h04m");
  CHECK(FormatDuration(266400) == "3d02h");
  CHECK(SecondsSince(0, kNow) == -1);
  CHECK(SecondsSince(kNow + 5, kNow) == 0);
  CHECK(SecondsSince(kNow - 1999, kNow) == 1);
}

TEST_CASE("Abbreviate keeps the first line, cut", "[cli]") {
  CHECK(Abbreviate("", 10) == "-");
  CHECK(Abbreviate("exit 1\nmore", 10) == "exit 1");
  CHECK(Abbreviate("0123456789abc", 10) == "0123456...");
}

TEST_CASE("AlignColumns pads all but the last column", "[cli]") {
  CHECK(AlignColumns({{"A", "BB", "C"}, {"aaa", "b", "c"}}) == "A    BB  C\naaa  b   c\n");
  CHECK(AlignColumns({}).empty());
}

TEST_CASE("RenderPsTable sorts and joins the drone's address", "[cli]") {
  std::vector<v1::ProcessStatus> ps = {
      Proc("web", kC1, "web", 1, "d2", 15001), Proc("web", kC1, "web", 0, "d2", 15000),
      Proc("web", kC1, "web", 0, "d1", 15002), Proc("api", kC2, "worker", 0, "lost", 0),
      Proc("web", kC1, "clock", 0, "d1", 15003)};
  ps[3].set_state("backoff");
  ps[3].set_restarts(4);
  ps[3].set_pid(0);
  ps[3].set_last_error("exited with status 1\nstack...");
  std::vector<v1::DroneInfo> drones = {Drone("d1", "10.0.0.1"), Drone("d2", "fd00::2")};
  auto lines = Lines(RenderPsTable(ps, drones, kNow));
  REQUIRE(lines.size() == 6);
  CHECK(lines[0].rfind("APP  COMMIT        ROLE    INST  DRONE  HOST:PORT", 0) == 0);
  CHECK(lines[0].find("PID  STATE    RESTARTS  UPTIME  LAST-ERROR") != std::string::npos);
  CHECK(lines[1] ==
        "api  0123456789ab  worker  0     lost   -                -    backoff  4         -       "
        "exited with status 1");
  CHECK(lines[2].find("web  74336bc1db98  clock   0     d1     10.0.0.1:15003") == 0);
  CHECK(lines[3].find("web  74336bc1db98  web     0     d1     10.0.0.1:15002") == 0);
  CHECK(lines[4].find("web  74336bc1db98  web     0     d2     [fd00::2]:15000") == 0);
  CHECK(lines[5].find("web     1     d2     [fd00::2]:15001  101  running  0         3m05s   -") !=
        std::string::npos);
}

TEST_CASE("RenderPsTable without the drone list shows bare ports", "[cli]") {
  auto lines = Lines(RenderPsTable({Proc("web", kC1, "web", 0, "d1", 15000)}, {}, kNow));
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].find("  d1     15000  ") != std::string::npos);
}

TEST_CASE("PsJson has every field, host and uptime", "[cli]") {
  auto j = PsJson({Proc("web", kC1, "web", 3, "d1", 15000)}, {Drone("d1", "h1")}, kNow);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["app"] == "web");
  CHECK(j[0]["commit"] == kC1);
  CHECK(j[0]["instance"] == 3);
  CHECK(j[0]["host"] == "h1");
  CHECK(j[0]["port"] == 15000);
  CHECK(j[0]["state"] == "running");
  CHECK(j[0]["uptime_s"] == 185);
  CHECK(j[0]["started_unix_ms"] == kNow - 185'000);
  CHECK(PsJson({}, {}, kNow).dump() == "[]");
}

TEST_CASE("RenderDronesTable and DronesJson", "[cli]") {
  auto a = Drone("b-drone", "10.0.0.2");
  (*a.mutable_labels())["zone"] = "eu";
  (*a.mutable_labels())["gpu"] = "yes";
  *a.add_processes() = Proc("web", kC1, "web", 0, "b-drone", 1);
  auto b = Drone("a-drone", "10.0.0.1");
  b.set_connected(false);
  b.set_last_seen_unix_ms(kNow - 7'440'000);
  auto lines = Lines(RenderDronesTable({a, b}, kNow));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "NAME     ADVERTISE  CONNECTED  LABELS           PROCESSES  LAST-SEEN");
  CHECK(lines[1] == "a-drone  10.0.0.1   no         -                0          2h04m ago");
  CHECK(lines[2] == "b-drone  10.0.0.2   yes        gpu=yes,zone=eu  1          2s ago");

  auto j = DronesJson({a, b}, kNow);
  CHECK(j[0]["name"] == "a-drone");
  CHECK(j[1]["labels"]["zone"] == "eu");
  CHECK(j[1]["processes"] == 1);
  CHECK(j[1]["connected"] == true);
  CHECK(j[1]["last_seen_s"] == 2);
  CHECK(j[1]["version"] == "");
}
