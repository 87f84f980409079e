#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "contract/flight_spec.h"

namespace skyport::hub {
namespace {

using Catch::Contains;
using nlohmann::json;

// The example of contract/flight_spec.h.
const char* kExample = R"({
  "name": "checkout-v2", "app": "webapp", "description": "New checkout", "author": "ana",
  "infourl": "https://wiki/checkout-v2", "version": 1,
  "arms": { "control": "74336bc", "treatment": "40548da" },
  "control": "control",
  "filter": { "channels": ["beta"], "oses": ["linux", "mac"], "locales": ["en-US", "de"],
              "headers": { "X-Beta": "1" } },
  "randomDeploy": { "keyname": "uid", "ge": 0.0, "lt": 0.2 },
  "endBy": "2026-12-01T00:00:00Z",
  "kill": false,
  "flightplan": [
    {"action":"deploy","arm":"treatment","instances":2},
    {"action":"weight","arms":{"treatment":5}},
    {"action":"wait","for":"10m"},
    [{"action":"gate","metric":"error_rate","arm":"treatment","max_increase":0.01,"timeout":"1h"},
     {"action":"ping","url":"http://hooks/x?f={{name}}&s={{step}}","method":"GET"}],
    {"action":"wait","until":"2026-11-25T00:00:00Z"},
    {"action":"gate","metric":"conversion","event":"purchase","test":"sequential","alpha":0.05},
    {"action":"promote","arm":"treatment","grace":"10m"},
    {"action":"log","message":"all done"}
  ]
})";

json Example() { return json::parse(kExample); }

// A small valid spec to break one field at a time.
json Base() {
  return json::parse(R"({"name":"f","app":"webapp","arms":{"control":"main","a":"feature/a","b":"v1.2"},
                         "control":"control","flightplan":[]})");
}

std::string ErrorOf(const json& doc) {
  auto r = ParseFlightSpec(doc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

json WithPlan(json plan) {
  json doc = Base();
  doc["flightplan"] = std::move(plan);
  return doc;
}

TEST_CASE("ParseFlightSpec reads the example of the header", "[hub][flight]") {
  auto r = ParseFlightSpec(Example());
  REQUIRE(r.ok());
  const FlightSpec& s = *r;
  CHECK(s.name == "checkout-v2");
  CHECK(s.app == "webapp");
  CHECK(s.description == "New checkout");
  CHECK(s.author == "ana");
  CHECK(s.infourl == "https://wiki/checkout-v2");
  CHECK(s.version == 1);
  CHECK(s.arms == std::map<std::string, std::string>{{"control", "74336bc"}, {"treatment", "40548da"}});
  CHECK(s.control == "control");
  CHECK(s.Treatments() == std::vector<std::string>{"treatment"});
  CHECK(s.filter.channels == std::vector<std::string>{"beta"});
  CHECK(s.filter.oses == std::vector<std::string>{"linux", "mac"});
  CHECK(s.filter.locales == std::vector<std::string>{"en-US", "de"});
  CHECK(s.filter.headers == std::map<std::string, std::string>{{"x-beta", "1"}});
  CHECK(s.range_key == "uid");
  CHECK(s.range_ge == 0.0);
  CHECK(s.range_lt == 0.2);
  CHECK(s.end_by_unix_ms == 1796083200000);
  CHECK_FALSE(s.kill);
  CHECK(s.raw == Example());

  REQUIRE(s.plan.size() == 8);
  using A = PlanStep::Action;
  CHECK(s.plan[0][0].action == A::kDeploy);
  CHECK(s.plan[0][0].instances == 2);
  CHECK(s.plan[0][0].Describe() == "deploy treatment x2");
  CHECK(s.plan[1][0].weights == std::map<std::string, double>{{"treatment", 5}});
  CHECK(s.plan[1][0].Describe() == "weight treatment=5%");
  CHECK(s.plan[2][0].wait_ms == 600'000);
  CHECK(s.plan[2][0].Describe() == "wait 10m");
  REQUIRE(s.plan[3].size() == 2);
  const PlanStep& gate = s.plan[3][0];
  CHECK(gate.action == A::kGate);
  CHECK(gate.arm == "treatment");
  CHECK(gate.gate.arm == "treatment");
  CHECK(gate.gate.control == "control");
  CHECK(gate.gate.metric == "error_rate");
  CHECK(gate.gate.max_increase == 0.01);
  CHECK(gate.timeout_ms == 3'600'000);
  CHECK(gate.Describe() == "gate error_rate treatment (max_increase 0.01, timeout 1h)");
  CHECK(gate.raw.contains("timeout"));
  CHECK(s.plan[3][1].action == A::kPing);
  CHECK(s.plan[3][1].url == "http://hooks/x?f={{name}}&s={{step}}");
  CHECK(s.plan[3][1].Describe() == "ping GET http://hooks/x?f={{name}}&s={{step}}");
  CHECK(s.plan[4][0].until_unix_ms == 1795564800000);
  CHECK(s.plan[4][0].Describe() == "wait until 2026-11-25T00:00:00Z");
  CHECK(s.plan[5][0].arm == "treatment");  // defaulted: the only treatment
  CHECK(s.plan[5][0].Describe() == "gate conversion purchase treatment (sequential, alpha 0.05)");
  CHECK(s.plan[6][0].grace_ms == 600'000);
  CHECK(s.plan[6][0].Describe() == "promote treatment");
  CHECK(s.plan[7][0].Describe() == "log all done");
  CHECK(std::string(ActionName(A::kPing)) == "ping");
}

TEST_CASE("ParseFlightSpec fills defaults", "[hub][flight]") {
  json doc = Base();
  doc["arms"] = {{"control", "main"}, {"t", "abc"}};
  doc["flightplan"] = json::parse(R"([{"action":"deploy","arm":"t"},{"action":"promote"},
                                      {"action":"ping","url":"http://h/{{weights}}"}])");
  auto r = ParseFlightSpec(doc);
  REQUIRE(r.ok());
  CHECK(r->version == 1);
  CHECK(r->range_key == "uid");
  CHECK(r->range_ge == 0);
  CHECK(r->range_lt == 1);
  CHECK(r->end_by_unix_ms == 0);
  CHECK(r->plan[0][0].instances == 1);
  CHECK(r->plan[0][0].Describe() == "deploy t");
  CHECK(r->plan[1][0].arm == "t");
  CHECK(r->plan[1][0].grace_ms == kDefaultGraceMs);
  CHECK(r->plan[2][0].method == "GET");

  json empty = Base();
  empty.erase("flightplan");
  auto e = ParseFlightSpec(empty);
  REQUIRE(e.ok());
  CHECK(e->plan.empty());
  CHECK(e->Treatments() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("ParseFlightSpec names the path of each bad field", "[hub][flight]") {
  struct Case {
    const char* patch;  // merged into Base()
    const char* expect;
  };
  const Case cases[] = {
      {R"({"name":"Bad Name"})", "name: \"Bad Name\" must match"},
      {R"({"app":7})", "app: must be a string"},
      {R"({"colour":"red"})", "colour: unknown field"},
      {R"({"version":0})", "version: must be an integer >= 1"},
      {R"({"version":1.5})", "version: must be an integer >= 1"},
      {R"({"infourl":"ftp://x"})", "infourl: \"ftp://x\" is not an http(s) URL"},
      {R"({"arms":{"a":null,"b":null}})", "arms: needs at least 2 arms"},
      {R"({"arms":{"control":"main","Bad":"x"}})", "arms.Bad: arm name must match"},
      {R"({"arms":{"control":"main","t":"a..b"}})", "arms.t: must be a commit or branch name"},
      {R"({"arms":{"control":"main","t":5}})", "arms.t: must be a commit or branch name"},
      {R"({"control":"nope"})", "control: \"nope\" is not an arm"},
      {R"({"filter":{"oses":["linux","beos"]}})", "filter.oses[1]: \"beos\" is not android"},
      {R"({"filter":{"channels":[""]}})", "filter.channels[0]: must be 1 to 64 characters"},
      {R"({"filter":{"locales":["en_US"]}})", "filter.locales[0]: \"en_US\" is not a language tag"},
      {R"({"filter":{"headers":{"X Bad":"1"}}})", "filter.headers.X Bad: not an HTTP header name"},
      {R"({"filter":{"headers":{"X-A":1}}})", "filter.headers.X-A: must be a string"},
      {R"({"filter":{"country":"de"}})", "filter.country: unknown field"},
      {R"({"randomDeploy":{"ge":0.5,"lt":0.2}})", "randomDeploy.lt: 0.2 must be above ge (0.5)"},
      {R"({"randomDeploy":{"lt":1.5}})", "randomDeploy.lt: 1.5 is not in (0, 1]"},
      {R"({"randomDeploy":{"ge":-0.1}})", "randomDeploy.ge: -0.1 is not in [0, 1)"},
      {R"({"randomDeploy":{"keyname":"a b"}})", "randomDeploy.keyname: \"a b\" must match"},
      {R"({"endBy":"2026-12-01"})", "endBy: \"2026-12-01\" is not an RFC 3339 time"},
      {R"({"kill":"yes"})", "kill: must be true or false"},
      {R"({"flightplan":{}})", "flightplan: must be a list"},
  };
  for (const auto& c : cases) {
    INFO(c.patch);
    json doc = Base();
    doc.merge_patch(json::parse(c.patch));
    CHECK_THAT(ErrorOf(doc), Contains(c.expect));
  }
  json no_name = Base();
  no_name.erase("name");
  CHECK_THAT(ErrorOf(no_name), Contains("name: required"));
  json no_control = Base();
  no_control.erase("control");
  CHECK_THAT(ErrorOf(no_control), Contains("control: required"));
  CHECK(ErrorOf(json::array()) == "spec: must be a JSON object");
}

TEST_CASE("ParseFlightSpec names the path of each bad step", "[hub][flight]") {
  struct Case {
    const char* plan;
    const char* expect;
  };
  const Case cases[] = {
      {R"([{"arm":"a"}])", "flightplan[0].action: required"},
      {R"([{"action":"jump"}])", "flightplan[0].action: \"jump\" is not deploy"},
      {R"(["deploy"])", "flightplan[0]: must be a step object"},
      {R"([[]])", "flightplan[0]: an empty parallel group"},
      {R"([[[{"action":"log","message":"x"}]]])", "flightplan[0][0]: parallel groups do not nest"},
      {R"([{"action":"deploy"}])", "flightplan[0].arm: required"},
      {R"([{"action":"deploy","arm":"zz"}])", "flightplan[0].arm: \"zz\" is not an arm of the flight"},
      {R"([{"action":"deploy","arm":"a","instances":0}])", "flightplan[0].instances: must be an integer from 1 to 64"},
      {R"([{"action":"deploy","arm":"a","instances":65}])", "flightplan[0].instances"},
      {R"([{"action":"deploy","arm":"a","replicas":2}])", "flightplan[0].replicas: unknown field"},
      {R"([{"action":"weight","arms":{"control":10}}])", "flightplan[0].arms.control: the control cannot be weighted"},
      {R"([{"action":"weight","arms":{"zz":10}}])", "flightplan[0].arms.zz: not an arm of the flight"},
      {R"([{"action":"weight","arms":{"a":101}}])", "flightplan[0].arms.a: must be a percentage from 0 to 100"},
      {R"([{"action":"weight","arms":{}}])", "flightplan[0].arms: must be a non-empty object"},
      {R"([{"action":"weight","arms":{"a":60}},{"action":"weight","arms":{"b":50}}])",
       "flightplan[1].arms: treatments sum to 110% > 100%"},
      {R"([{"action":"log","message":"x"},[{"action":"weight","arms":{"a":70}},{"action":"weight","arms":{"b":50}}]])",
       "flightplan[1][1].arms: treatments sum to 120% > 100%"},
      {R"([[{"action":"weight","arms":{"a":10}},{"action":"weight","arms":{"a":20}}]])",
       "flightplan[0][1].arms.a: also set by flightplan[0][0] in the same group"},
      {R"([{"action":"wait"}])", "flightplan[0]: wait needs exactly one of \"for\" and \"until\""},
      {R"([{"action":"wait","for":"10m","until":"2026-11-25T00:00:00Z"}])", "flightplan[0]: wait needs exactly one"},
      {R"([{"action":"wait","for":"ten minutes"}])", "flightplan[0].for: \"ten minutes\" is not a duration"},
      {R"([{"action":"wait","for":"0"}])", "flightplan[0].for: must be > 0"},
      {R"([{"action":"wait","until":"soon"}])", "flightplan[0].until: \"soon\" is not an RFC 3339 time"},
      {R"([{"action":"ping"}])", "flightplan[0].url: required"},
      {R"([{"action":"ping","url":"https://h/x"}])", "flightplan[0].url: https is not supported"},
      {R"([{"action":"ping","url":"hooks/x"}])", "flightplan[0].url: \"hooks/x\" is not an http:// URL"},
      {R"([{"action":"ping","url":"http://h/{{user}}"}])", "flightplan[0].url: unknown template variable {{user}}"},
      {R"([{"action":"ping","url":"http://h/{{name"}])", "flightplan[0].url: unclosed {{"},
      {R"([{"action":"ping","url":"http://h/","method":"PUT"}])", "flightplan[0].method: \"PUT\" is not GET or POST"},
      {R"([{"action":"ping","url":"http://h/","body":"x"}])", "flightplan[0].body: only for POST"},
      {R"([{"action":"ping","url":"http://h/","method":"POST","body":"{{secret}}"}])",
       "flightplan[0].body: unknown template variable {{secret}}"},
      {R"([{"action":"gate","arm":"a","metric":"error_rate"}])", "flightplan[0].max_increase: required for error_rate"},
      {R"([{"action":"gate","arm":"a","metric":"speed"}])", "flightplan[0].metric: \"speed\" is not error_rate"},
      {R"([{"action":"gate","arm":"a","metric":"error_rate","max_increase":0.1,"wobble":1}])",
       "flightplan[0].wobble: unknown field"},
      {R"([{"action":"gate","metric":"error_rate","max_increase":0.1}])",
       "flightplan[0].arm: required: the flight has several treatments"},
      {R"([{"action":"gate","arm":"zz","metric":"error_rate","max_increase":0.1}])",
       "flightplan[0].arm: \"zz\" is not an arm of the flight"},
      {R"([{"action":"gate","arm":"a","control":"zz","metric":"error_rate","max_increase":0.1}])",
       "flightplan[0].control: \"zz\" is not an arm of the flight"},
      {R"([{"action":"gate","arm":"control","metric":"error_rate","max_increase":0.1}])",
       "flightplan[0].arm: \"control\" is the gate's control"},
      {R"([{"action":"gate","arm":"a","metric":"error_rate","max_increase":0.1,"timeout":"soon"}])",
       "flightplan[0].timeout: \"soon\" is not a duration"},
      {R"([{"action":"promote"}])", "flightplan[0].arm: required: the flight has several treatments"},
      {R"([{"action":"promote","arm":"a","grace":"-1m"}])", "flightplan[0].grace:"},
      {R"([{"action":"log"}])", "flightplan[0].message: required"},
      {R"([{"action":"log","message":""}])", "flightplan[0].message: is empty"},
  };
  for (const auto& c : cases) {
    INFO(c.plan);
    CHECK_THAT(ErrorOf(WithPlan(json::parse(c.plan))), Contains(c.expect));
  }
}

TEST_CASE("ParseFlightSpec reports every problem at once", "[hub][flight]") {
  json doc = Base();
  doc["app"] = "Web App";
  doc["filter"] = {{"oses", {"linux", "plan9"}}};
  doc["flightplan"] = json::parse(R"([{"action":"deploy","arm":"a"},
      [{"action":"gate","arm":"a","metric":"conversion"},{"action":"wait","for":"1y"}]])");
  const std::string all = ErrorOf(doc);
  CHECK_THAT(all, Contains("app: \"Web App\" must match"));
  CHECK_THAT(all, Contains("filter.oses[1]: \"plan9\""));
  CHECK_THAT(all, Contains("flightplan[1][0].event: required for conversion"));
  CHECK_THAT(all, Contains("flightplan[1][1].for: \"1y\""));
  CHECK(std::count(all.begin(), all.end(), ';') == 3);  // four problems, one message
}

TEST_CASE("ParseFlightSpec allows weights that move within 100%", "[hub][flight]") {
  auto r = ParseFlightSpec(WithPlan(json::parse(R"([
      {"action":"weight","arms":{"a":33.3333,"b":33.3333}},
      {"action":"weight","arms":{"a":90,"b":0}},
      [{"action":"weight","arms":{"a":50}},{"action":"weight","arms":{"b":50}}]])")));
  REQUIRE(r.ok());
  CHECK(r->plan[0][0].Describe() == "weight a=33.3333%, b=33.3333%");
}

TEST_CASE("ParseFlightSpecText refuses text that is not JSON", "[hub][flight]") {
  auto bad = ParseFlightSpecText("{\"name\": ");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK_THAT(bad.status().message(), Catch::StartsWith("spec: not valid JSON: "));
  // The parser's message quotes the offending token: never megabytes of it, nor raw control characters.
  auto huge = ParseFlightSpecText("{\"a\": \"" + std::string(500'000, 'r') + "\x1b[2J\"}");
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().message().size() < 400);
  auto good = ParseFlightSpecText(kExample);
  REQUIRE(good.ok());
  CHECK(good->name == "checkout-v2");
}

TEST_CASE("RenderTemplate substitutes variables, encoding them for URLs", "[hub][flight]") {
  const std::map<std::string, std::string> vars = {{"name", "checkout v2"}, {"weights", "a=5,b=10"}, {"step", "4.2"}};
  CHECK(RenderTemplate("http://h/x?f={{name}}&w={{weights}}&s={{step}}", vars, true) ==
        "http://h/x?f=checkout%20v2&w=a%3D5%2Cb%3D10&s=4.2");
  CHECK(RenderTemplate("{{name}}: {{weights}}", vars, false) == "checkout v2: a=5,b=10");
  CHECK(RenderTemplate("x{{missing}}y", vars, false) == "xy");
  CHECK(RenderTemplate("keep {single} and {{name", vars, false) == "keep {single} and {{name");
  CHECK(RenderTemplate("", vars, true) == "");
  CHECK(RenderTemplate("{{name}}{{name}}", vars, true) == "checkout%20v2checkout%20v2");
  CHECK(RenderTemplate("{{name}}", {{"name", "~a-b_c.d/é"}}, true) == "~a-b_c.d%2F%C3%A9");
}

}  // namespace
}  // namespace skyport::hub

TEST_CASE("absurdly nested specs and URLs with blanks are refused", "[hub][flight]") {
  std::string deep = "{\"name\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = skyport::hub::ParseFlightSpecText(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("nested deeper than") != std::string::npos);
  CHECK(skyport::hub::JsonDepthWithin(R"({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})", 2));
  CHECK_FALSE(skyport::hub::JsonDepthWithin("[[[", 2));
  auto spec = skyport::hub::ParseFlightSpecText(R"({"name": "f", "app": "web", "arms": {"control": "aaaa", "t": "bbbb"},
    "control": "control", "flightplan": [{"action": "ping", "url": "http://h/x?a=1 HTTP/1.1\r\nX-Evil: 1"}]})");
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.status().message().find("flightplan[0].url: must not contain spaces") != std::string::npos);
}
