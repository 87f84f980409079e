#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli/flight_view.h"
#include "cli/spec_file.h"
#include "contract/flight_spec.h"

namespace sc = skyport::cli;

TEST_CASE("YAML specs become the equivalent JSON", "[cli][flight]") {
  auto j = sc::SpecTextToJson(R"(
name: rollout
app: webapp
version: 2
kill: false
note: ~
quoted: "5"
ratio: 0.25
arms: {control: abc1234, treatment: main}
flightplan:
  - {action: wait, for: 10m}
  - - {action: log, message: "a: b"}
    - {action: weight, arms: {treatment: 50}}
)", true, "f.yaml");
  REQUIRE(j.ok());
  auto doc = nlohmann::json::parse(*j);
  CHECK(doc["version"] == 2);
  CHECK(doc["kill"] == false);
  CHECK(doc["note"].is_null());
  CHECK(doc["quoted"] == "5");  // quoted scalars stay strings
  CHECK(doc["ratio"] == 0.25);
  CHECK(doc["arms"]["control"] == "abc1234");
  CHECK(doc["flightplan"][0]["for"] == "10m");
  CHECK(doc["flightplan"][1].is_array());
  CHECK(doc["flightplan"][1][0]["message"] == "a: b");
  CHECK(doc["flightplan"][1][1]["arms"]["treatment"] == 50);
}

TEST_CASE("malformed spec files name the file and the line", "[cli][flight]") {
  auto y = sc::SpecTextToJson("name: x\n  bad: [unclosed\n", true, "f.yaml");
  REQUIRE_FALSE(y.ok());
  CHECK(y.status().message().find("f.yaml: not valid YAML: line") != std::string::npos);
  auto j = sc::SpecTextToJson("{\"name\": ", false, "f.json");
  REQUIRE_FALSE(j.ok());
  CHECK(j.status().message().find("f.json: not valid JSON") != std::string::npos);
  CHECK_FALSE(sc::SpecFileToJson("/nonexistent/spec.json").ok());
}

TEST_CASE("the example flight spec is valid", "[cli][flight]") {
  auto j = sc::SpecFileToJson(std::string(SKYPORT_SOURCE_DIR) + "/examples/webapp/flight.yaml");
  REQUIRE(j.ok());
  auto spec = skyport::hub::ParseFlightSpecText(*j);
  REQUIRE(spec.ok());
  CHECK(spec->name == "beepity-rollout");
  CHECK(spec->plan.size() == 7);
  CHECK(spec->plan[4].size() == 2);  // the parallel group
}

TEST_CASE("flight status and log render for people and scripts", "[cli][flight]") {
  skyport::v1::FlightStatus s;
  s.set_name("checkout-v2");
  s.set_app("webapp");
  s.set_id("checkout-v2.1a2b");
  s.set_state("running");
  s.set_step("3");
  s.set_steps_total(8);
  s.set_step_text("wait 10m (4m12s left)");
  s.set_started_unix_ms(1'700'000'000'000);
  s.set_end_by_unix_ms(1'700'000'600'000);
  auto* c = s.add_arms();
  c->set_name("control");
  c->set_commit("74336bc1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7");
  c->set_control(true);
  c->set_weight(95);
  c->set_users_enrolled(1204);
  auto* t = s.add_arms();
  t->set_name("treatment");
  t->set_commit("40548da0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6");
  t->set_weight(5);
  t->set_users_enrolled(61);
  std::string text = sc::RenderFlightStatus(s, 1'700'000'120'000);
  CHECK(text.find("state:   running, step 3/8: wait 10m (4m12s left)") != std::string::npos);
  CHECK(text.find("control *") != std::string::npos);
  CHECK(text.find("74336bc1d2e3") != std::string::npos);
  CHECK(text.find("95%") != std::string::npos);
  CHECK(text.find("1204") != std::string::npos);
  CHECK(text.find("ends by: 2023-11-14T22:23:20Z (in 8m00s)") != std::string::npos);
  auto j = sc::FlightStatusJson(s);
  CHECK(j["arms"][1]["users_enrolled"] == 61);
  CHECK(j["spec"].is_null());
  std::string list = sc::RenderFlightList({s}, 1'700'000'120'000);
  CHECK(list.find("control=95% treatment=5%") != std::string::npos);

  skyport::v1::FlightLogEntry e;
  e.set_unix_ms(1'700'000'000'000);
  e.set_step("4");
  e.set_kind("gate");
  e.set_message("pass: +0.1 points");
  e.set_data_json(R"({"verdict":"pass"})");
  std::string log = sc::RenderFlightLog({e});
  CHECK(log.find("2023-11-14T22:13:20Z  4     gate     pass: +0.1 points") != std::string::npos);
  CHECK(log.find(R"(    {"verdict":"pass"})") != std::string::npos);
  CHECK(sc::FlightLogJson({e})[0]["data"]["verdict"] == "pass");
  // A reply that left older entries out says so first (--json: the same line on stderr).
  CHECK(log.find("left out") == std::string::npos);
  CHECK(sc::RenderFlightLog({e}, 12).rfind("(12 older entries left out", 0) == 0);
  CHECK(sc::FlightLogLeftOutNotice(0).empty());
}

namespace {

// "Billion laughs": each level repeats the one before nine times; 9^9 strings from ~350 bytes.
std::string LaughBomb() {
  std::string doc = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    doc += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) doc += (i ? ",*" : "*") + prev;
    doc += "]\n";
  }
  return doc;
}

}  // namespace

TEST_CASE("YAML alias bombs fail fast with a clear error", "[cli][flight]") {
  const std::string bomb = LaughBomb();
  REQUIRE(bomb.size() < 500);
  auto j = sc::SpecTextToJson(bomb, true, "bomb.yaml");
  REQUIRE_FALSE(j.ok());
  CHECK(j.status().message() ==
        "bomb.yaml: expands to more than 100000 values (aliases repeating anchors?): a flight spec is far smaller");

  // Few values, each a long string repeated.
  std::string wide = "s: &s \"" + std::string(600'000, 'x') + "\"\nt: [*s, *s, *s, *s, *s, *s, *s, *s]\n";
  auto w = sc::SpecTextToJson(wide, true, "wide.yaml");
  REQUIRE_FALSE(w.ok());
  CHECK_THAT(w.status().message(), Catch::StartsWith("wide.yaml: expands to more than 4194304 bytes of strings"));

  // An alias inside its own anchor, and plain deep nesting in block style.
  auto self = sc::SpecTextToJson("a: &a\n  b: *a\n", true, "self.yaml");
  if (!self.ok()) CHECK_THAT(self.status().message(), Catch::StartsWith("self.yaml: "));
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += std::string(static_cast<size_t>(2 * i), ' ') + "k:\n";
  auto d = sc::SpecTextToJson(deep, true, "deep.yaml");
  REQUIRE_FALSE(d.ok());
  CHECK_THAT(d.status().message(), Catch::StartsWith("deep.yaml: nested deeper than 32 levels"));

  // Aliases within the budget still work.
  auto ok = sc::SpecTextToJson("base: &b {weight: 5}\narms: [*b, *b]\n", true, "ok.yaml");
  REQUIRE(ok.ok());
  CHECK(nlohmann::json::parse(*ok)["arms"][1]["weight"] == 5);
}

TEST_CASE("spec text over the size cap is refused before parsing; errors echo little", "[cli][flight]") {
  auto big = sc::SpecTextToJson(std::string(sc::kMaxSpecFileBytes + 1, ' '), true, "big.yaml");
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().message() == "big.yaml: larger than 1024 KiB");

  // A malformed document made of one huge token: the error does not repeat it.
  auto junk = sc::SpecTextToJson("{\"a\": \"" + std::string(500'000, 'r') + "\x01\"}", false, "junk.json");
  REQUIRE_FALSE(junk.ok());
  CHECK_THAT(junk.status().message(), Catch::StartsWith("junk.json: not valid JSON"));
  CHECK(junk.status().message().size() < 400);
}
