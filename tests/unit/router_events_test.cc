#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "router/events.h"

namespace skyport::router {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const std::string kHexUser = "0123456789abcdef0123456789abcdef";

EventsStatus Parse(std::string_view body, ParsedEvents& out, bool trusted = false, EventLimits limits = {}) {
  return ParseEvents(body, limits, trusted, kNow, out);
}

// ---------------------------------------------------------------- parsing

TEST_CASE("ParseEvents: a single event; value defaults to 0, time to now, user to none", "[router][events]") {
  ParsedEvents out;
  REQUIRE(Parse(R"({"event": "signup"})", out).ok());
  REQUIRE(out.events.size() == 1);
  CHECK(out.events[0].name == "signup");
  CHECK(out.events[0].value == 0);
  CHECK(out.events[0].unix_s == kNow);
  CHECK(out.events[0].user.empty());

  REQUIRE(Parse(" {\n\t\"value\" : -12.5e1 , \"time\": 1699999000.9, \"event\":\"a.b:c-d_E9\" }\r\n", out).ok());
  REQUIRE(out.events.size() == 1);
  CHECK(out.events[0].name == "a.b:c-d_E9");
  CHECK(out.events[0].value == -125.0);
  CHECK(out.events[0].unix_s == 1'699'999'000);  // fractions rounded down
}

TEST_CASE("ParseEvents: arrays and {\"events\": [...]} keep order; views point into the body", "[router][events]") {
  ParsedEvents out;
  const std::string bare = R"([{"event": "a", "value": 1}, {"event": "b", "value": 2.5}, {"event": "a"}])";
  REQUIRE(Parse(bare, out).ok());
  REQUIRE(out.events.size() == 3);
  CHECK(out.events[1].name == "b");
  CHECK(out.events[1].value == 2.5);
  CHECK(out.events[2].value == 0);
  CHECK(out.events[0].name.data() >= bare.data());
  CHECK(out.events[0].name.data() < bare.data() + bare.size());

  REQUIRE(Parse(R"({"events": [{"event": "x"}, {"event": "y", "value": 1e12}, {"event": "z", "value": -1e12}]})", out)
              .ok());
  REQUIRE(out.events.size() == 3);
  CHECK(out.events[2].name == "z");
  CHECK(out.events[2].value == -1e12);

  // A value too small for a double is 0, not an error.
  REQUIRE(Parse(R"({"event": "tiny", "value": 1e-400})", out).ok());
  CHECK(out.events[0].value == 0);
  REQUIRE(Parse(R"({"event": "tiny", "value": -0.0000e-999})", out).ok());

  // `out` is reused: each parse starts from empty.
  REQUIRE(Parse(R"({"event": "one"})", out).ok());
  CHECK(out.events.size() == 1);
}

TEST_CASE("ParseEvents: users only from trusted callers, with the trusted charset", "[router][events]") {
  ParsedEvents out;
  const std::string body = R"([{"event": "a", "user": "alice@example.com"}, {"event": "b", "user": ")" + kHexUser +
                           R"("}])";  // the views point into it
  REQUIRE(Parse(body, out, true).ok());
  CHECK(out.events[0].user == "alice@example.com");
  CHECK(out.events[1].user == kHexUser);
  REQUIRE(Parse(R"({"event": "a", "user": ")" + std::string(128, 'u') + R"("})", out, true).ok());

  EventsStatus s = Parse(R"({"event": "a", "user": ")" + kHexUser + R"("})", out, false);
  CHECK(s.http_status == 400);
  CHECK(s.message == "user: only server-side calls with the token may name a user");
  CHECK(out.events.empty());
  s = Parse(R"([{"event": "a"}, {"event": "a", "user": "bob"}])", out, false);
  CHECK(s.message == "events[1].user: only server-side calls with the token may name a user");
}

TEST_CASE("ParseEvents: the time window is [now - 31 d, now + 1 h]", "[router][events]") {
  ParsedEvents out;
  const std::string err = fmt::format("time: must lie within [now - 2678400 s, now + 3600 s] (now is {})", kNow);
  for (int64_t ok : {kNow, kNow + 3600, kNow - 31 * 86400}) {
    INFO(ok);
    REQUIRE(Parse(fmt::format(R"({{"event": "a", "time": {}}})", ok), out).ok());
    CHECK(out.events[0].unix_s == ok);
  }
  REQUIRE(Parse(fmt::format(R"({{"event": "a", "time": {}.99}})", kNow + 3600), out).ok());
  CHECK(out.events[0].unix_s == kNow + 3600);
  for (int64_t bad : {kNow + 3601, kNow - 31 * 86400 - 1, int64_t{0}}) {
    INFO(bad);
    EventsStatus s = Parse(fmt::format(R"({{"event": "a", "time": {}}})", bad), out);
    CHECK(s.http_status == 400);
    CHECK(s.message == err);
  }
  CHECK(Parse(fmt::format(R"({{"event": "a", "time": {}.5}})", kNow - 31 * 86400 - 1), out).message == err);
  CHECK(Parse(R"({"event": "a", "time": 1e300})", out).message == err);
  // Custom limits.
  EventLimits tight;
  tight.max_future_s = 0;
  tight.max_past_s = 10;
  CHECK(Parse(fmt::format(R"({{"event": "a", "time": {}}})", kNow + 1), out, false, tight).http_status == 400);
  CHECK(Parse(fmt::format(R"({{"event": "a", "time": {}}})", kNow - 10), out, false, tight).ok());
}

TEST_CASE("ParseEvents: limits answer 413; exactly at the limit is fine", "[router][events]") {
  ParsedEvents out;
  EventLimits limits;
  limits.max_events = 3;
  CHECK(Parse(R"([{"event": "a"}, {"event": "a"}, {"event": "a"}])", out, false, limits).ok());
  EventsStatus s =
      Parse(R"({"events": [{"event": "a"}, {"event": "a"}, {"event": "a"}, {"event": "a"}]})", out, false, limits);
  CHECK(s.http_status == 413);
  CHECK(s.message == "events: more than 3 in one batch");
  CHECK(out.events.empty());

  const std::string body = R"({"event": "a"})";
  limits.max_body_bytes = body.size();
  CHECK(Parse(body, out, false, limits).ok());
  limits.max_body_bytes = body.size() - 1;
  s = Parse(body, out, false, limits);
  CHECK(s.http_status == 413);
  CHECK(s.message == "body: 14 bytes, more than the limit of 13");

  // Defaults: 64 KiB and 1000 events.
  std::string big = "[";
  for (int i = 0; i < 1001; ++i) big += std::string(i ? "," : "") + R"({"event":"a"})";
  big += "]";
  CHECK(Parse(big, out).http_status == 413);
  CHECK(Parse(std::string(64 * 1024 + 1, ' '), out).http_status == 413);
}

struct BadCase {
  std::string body;
  std::string message;
  bool trusted = false;
};

TEST_CASE("ParseEvents: every refusal is a 400 naming the problem", "[router][events]") {
  const std::string long_name(65, 'n');
  const std::vector<BadCase> cases = {
      // Not JSON, or not the right shape.
      {"", "body: empty"},
      {" \n ", "body: empty"},
      {"nope", R"(body: must be an event object, an array of them or {"events": [...]})"},
      {"\"purchase\"", R"(body: must be an event object, an array of them or {"events": [...]})"},
      {R"({"event": "a")", "body: not JSON at byte 13: expected ',' or '}'"},
      {R"({"event": "a"} x)", "body: not JSON at byte 15: trailing characters"},
      {R"({"event": "a"}{"event": "a"})", "body: not JSON at byte 14: trailing characters"},
      {R"({"event" "a"})", "body: not JSON at byte 9: expected ':'"},
      {R"({event: "a"})", "body: not JSON at byte 1: expected a field name"},
      {"{\"event\": \"a\x01\"}", "body: not JSON at byte 12: bad string"},
      {R"({"event": "a\q"})", "body: not JSON at byte 13: bad string"},
      {R"({"event": "a\u12"})", "body: not JSON at byte 16: bad string"},
      {R"({"event": "a", "value": 01})", "body: not JSON at byte 24: bad number"},
      {R"({"event": "a", "value": 1.})", "body: not JSON at byte 24: bad number"},
      {R"({"event": "a", "value": -})", "body: not JSON at byte 24: bad number"},
      {R"({"event": "a", "value": 1e})", "body: not JSON at byte 24: bad number"},
      {R"([{"event": "a"},])", "body: not JSON at byte 16: expected an event object"},
      {R"([{"event": "a"})", "body: not JSON at byte 15: expected ',' or ']'"},
      {R"([{"event": "a"} {"event": "b"}])", "body: not JSON at byte 16: expected ',' or ']'"},
      // Types.
      {R"({"event": 5})", "event: must be a string"},
      {R"({"event": "a", "value": "5"})", "value: must be a finite number"},
      {R"({"event": "a", "value": null})", "value: must be a finite number"},
      {R"({"event": "a", "value": true})", "value: must be a finite number"},
      {R"({"event": "a", "value": 1e400})", "value: must be a finite number"},
      {R"({"event": "a", "value": -0.000123e999999999})", "value: must be a finite number"},
      {R"({"event": "a", "time": "now"})", "time: must be a finite number"},
      {R"({"event": "a", "user": 7})", "user: must be a string", true},
      {R"([{"event": "a"}, 5])", "events[1]: must be an object"},
      {R"({"events": {"event": "a"}})", "events: must be an array"},
      // Fields.
      {R"({"event": "a", "colour": "red"})", "colour: unknown field (allowed: event, value, user, time)"},
      {R"({"event": "a", "\u0076alue": 1})", "\\u0076alue: unknown field (allowed: event, value, user, time)"},
      {R"({"event": "a", "event": "b"})", "event: given twice"},
      {R"({})", "event: required"},
      {R"({"value": 1})", "event: required"},
      {R"([{"event": "a"}, {}])", "events[1].event: required"},
      {R"({"events": [{"event": "a"}], "x": 1})", R"(x: unknown field (a batch object holds only "events"))"},
      {R"([])", "events: empty batch"},
      {R"({"events": [ ]})", "events: empty batch"},
      // Values.
      {R"({"event": "a", "value": 1000000000001})", "value: must lie within [-1e12, 1e12]"},
      {R"([{"event": "a"}, {"event": "a"}, {"event": "a"}, {"event": "b", "value": -1.1e12}])",
       "events[3].value: must lie within [-1e12, 1e12]"},
      {R"([{"event": "a"}, {"event": "b", "value": [1]}])", "events[1].value: must be a finite number"},
      // Names.
      {R"({"event": ""})", "event: must match [A-Za-z0-9_.:-]{1,64}"},
      {R"({"event": ")" + long_name + R"("})", "event: must match [A-Za-z0-9_.:-]{1,64}"},
      {R"({"event": "add to cart"})", "event: must match [A-Za-z0-9_.:-]{1,64}"},
      {R"({"event": "a/b"})", "event: must match [A-Za-z0-9_.:-]{1,64}"},
      {R"({"event": "café"})", "event: must match [A-Za-z0-9_.:-]{1,64}"},
      {R"({"event": "caf\u00e9"})", "event: must match [A-Za-z0-9_.:-]{1,64}"},
      {R"({"event": "\u0061"})", "event: must match [A-Za-z0-9_.:-]{1,64}"},  // no escapes in names
      {R"({"event": "$exposure"})", "event: names starting with '$' are reserved"},
      {R"([{"event": "a"}, {"event": "$x"}])", "events[1].event: names starting with '$' are reserved"},
      // Users (trusted).
      {R"({"event": "a", "user": ""})", "user: must match [A-Za-z0-9_.:@-]{1,128}", true},
      {R"({"event": "a", "user": ")" + std::string(129, 'u') + R"("})", "user: must match [A-Za-z0-9_.:@-]{1,128}",
       true},
      {R"({"event": "a", "user": "a b"})", "user: must match [A-Za-z0-9_.:@-]{1,128}", true},
      {R"({"event": "a", "user": "x", "user": "y"})", "user: given twice", true},
  };
  for (const BadCase& c : cases) {
    INFO(c.body);
    ParsedEvents out;
    EventsStatus s = Parse(c.body, out, c.trusted);
    CHECK(s.http_status == 400);
    CHECK(s.message == c.message);
    CHECK(out.events.empty());
  }
}

TEST_CASE("ParseEvents: the name and user rules at their edges", "[router][events]") {
  ParsedEvents out;
  const std::string name64(64, 'n');
  const std::string body = R"({"event": ")" + name64 + R"("})";  // the views point into it
  REQUIRE(Parse(body, out).ok());
  CHECK(out.events[0].name == name64);
  for (const char* ok : {"A", "z", "0", "_", ".", ":", "-", "a-b_c.d:e"}) {
    INFO(ok);
    CHECK(Parse(fmt::format(R"({{"event": "{}"}})", ok), out).ok());
  }
  for (const char* ok : {"a@b", "@", "U-1.2:3_x"}) {
    INFO(ok);
    CHECK(Parse(fmt::format(R"({{"event": "a", "user": "{}"}})", ok), out, true).ok());
  }
  CHECK(!Parse(R"({"event": "a@b"})", out).ok());  // '@' only in user ids
}

// Mutated bodies (fixed seed): whatever ParseEvents accepts is JSON, and a
// refusal is a 400 or 413 with no events left behind.
TEST_CASE("ParseEvents: a browser's value is capped to max_value; one huge value cannot decide an arm's mean",
          "[router][events]") {
  EventLimits limits;
  limits.max_value = 1e6;
  ParsedEvents out;
  REQUIRE(Parse(R"([{"event":"purchase","value":1e12},{"event":"purchase","value":-5e9},)"
                R"({"event":"purchase","value":10}])", out, false, limits).ok());
  REQUIRE(out.events.size() == 3);
  CHECK(out.events[0].value == 1e6);
  CHECK(out.events[1].value == -1e6);
  CHECK(out.events[2].value == 10);
  CHECK(out.capped == 2);
  // An arm of 1000 users buying for 10 each, and one attacker posting 1e12: the mean moves by the cap's effect only.
  double sum = 1000 * 10.0 + out.events[0].value;
  CHECK(sum / 1001 < 10 + 1e6 / 1001 + 1e-9);
  // A server-side caller (the token) keeps its values: it is trusted to report real amounts.
  REQUIRE(Parse(R"({"event":"purchase","value":1e12,"user":"u1"})", out, true, limits).ok());
  CHECK(out.events[0].value == 1e12);
  CHECK(out.capped == 0);
}

TEST_CASE("ParseEvents: never accepts a body that is not JSON", "[router][events]") {
  std::mt19937_64 rng(1);
  const std::string seeds[] = {
      R"({"events": [{"event": "a.b", "value": -1.5e3, "time": 1700000000}, {"event": "x", "user": "u@x"}]})",
      R"([{"event":"a","value":0.25},{"event":"b"}])", R"({"event": "s", "value": 12, "time": 1699999999.5})"};
  const std::string alphabet = "{}[]\":,.-+eE0123456789 \\u\"abtx$@";
  ParsedEvents out;
  int accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string body = seeds[rng() % 3];
    for (int m = 1 + rng() % 4; m > 0 && !body.empty(); --m) {
      size_t pos = rng() % body.size();
      switch (rng() % 4) {
        case 0: body[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: body.erase(pos, 1 + rng() % 3); break;
        case 2: body.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        default: body.resize(pos);
      }
    }
    EventsStatus s = ParseEvents(body, EventLimits{}, rng() % 2 == 0, kNow, out);
    INFO(body);
    if (s.ok()) {
      ++accepted;
      REQUIRE(nlohmann::json::accept(body));
    } else {
      REQUIRE((s.http_status == 400 || s.http_status == 413));
      REQUIRE(out.events.empty());
    }
  }
  CHECK(accepted > 100);  // the mutations leave some bodies valid
}

}  // namespace
}  // namespace skyport::router
