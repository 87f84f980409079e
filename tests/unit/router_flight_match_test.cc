#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "router/flight_match.h"
#include "router/route_table.h"

namespace skyport::router {
namespace {

// A parsed request head and the bytes it points into.
struct Req {
  std::string raw;
  std::unique_ptr<http1::RequestHead> head = std::make_unique<http1::RequestHead>();
  RequestView view() const { return RequestView(*head); }
};

std::unique_ptr<Req> Request(const std::vector<std::pair<std::string, std::string>>& headers) {
  auto r = std::make_unique<Req>();
  r->raw = "GET / HTTP/1.1\r\nHost: web.localhost\r\n";
  for (const auto& [name, value] : headers) r->raw += name + ": " + value + "\r\n";
  r->raw += "\r\n";
  http1::ParseError err;
  REQUIRE(http1::ParseRequest(r->raw, 64 * 1024, *r->head, err) == http1::Parse::kDone);
  return r;
}

const char* const kChromeWindows =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36";
const char* const kFirefoxLinux = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const char* const kSafariMac =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
    "Safari/605.1.15";
const char* const kAndroidChrome =
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36";

TEST_CASE("OsFromUserAgent: real browsers on each OS", "[router][flight]") {
  struct Row {
    const char* ua;
    const char* os;
  };
  const Row rows[] = {
      // Windows
      {kChromeWindows, "windows"},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "windows"},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
       "Safari/537.36 Edg/124.0.2478.80",
       "windows"},
      // macOS
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
       "Safari/537.36",
       "mac"},
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", "mac"},
      {kSafariMac, "mac"},  // also what iPadOS 13+ sends in desktop mode: mac by design
      // Linux desktops
      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
       "linux"},
      {kFirefoxLinux, "linux"},
      {"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0", "linux"},
      // Android says Linux too
      {kAndroidChrome, "android"},
      {"Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "android"},
      {"Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
       "Chrome/117.0.0.0 Mobile Safari/537.36",
       "android"},
      // iOS says "like Mac OS X"
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.4.1 Mobile/15E148 Safari/604.1",
       "ios"},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
       "ios"},
      {"Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 "
       "Mobile/15E148 Safari/604.1",
       "ios"},
      // ChromeOS says X11 and Linux-like things
      {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
       "Safari/537.36",
       "chromeos"},
      // Nothing to go by
      {"curl/8.5.0", ""},
      {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ""},
      {"Mozilla/5.0 (X11; FreeBSD amd64; rv:125.0) Gecko/20100101 Firefox/125.0", ""},
      {"", ""},
  };
  for (const Row& r : rows) {
    INFO(r.ua);
    CHECK(OsFromUserAgent(r.ua) == r.os);
  }
}

TEST_CASE("PreferredLocale: the highest q, ties to the first", "[router][flight]") {
  struct Row {
    const char* header;
    const char* tag;
  };
  const Row rows[] = {
      {"de-DE,de;q=0.9,en;q=0.8", "de-DE"},
      {"en-US", "en-US"},
      {"*", ""},
      {"fr;q=0, en;q=0.5", "en"},
      {"en;q=0.5, de", "de"},                  // a later item with a higher q wins
      {"fr;q=0.8, de;q=0.8", "fr"},            // tie: the first
      {"pt_BR,pt;q=0.9", "pt-BR"},             // '_' is normalized
      {"*;q=1, it;q=0.1", "it"},               // "*" names no language
      {"es;q=1.0", "es"},
      {"  nl-BE ; q=0.7 ,  en ; q=0.3", "nl-BE"},
      {"en;Q=0.2,de;q=0.1", "en"},
      {"zh-Hant-TW", "zh-Hant-TW"},
      {"", ""},
      {"!!!", ""},
      {";;;,,,", ""},
      {"en;q=abc", ""},                        // malformed q: the item is skipped
      {"en-US;q=2, de;q=0.1", "de"},
      {"en;q=0.5555", ""},                     // more than three decimals
      {"1234, en-", ""},
      {"fr;q=0", ""},
      {"de;level=1;q=0.4, en;q=0.3", "de"},    // other parameters are ignored
  };
  for (const Row& r : rows) {
    INFO(r.header);
    CHECK(PreferredLocale(r.header) == r.tag);
  }
}

TEST_CASE("LocaleMatches: a language matches its regions; a region only itself", "[router][flight]") {
  CHECK(LocaleMatches("de", "de"));
  CHECK(LocaleMatches("de", "de-DE"));
  CHECK(LocaleMatches("de", "de-AT"));
  CHECK(LocaleMatches("DE", "de-at"));
  CHECK(LocaleMatches("en-US", "en-US"));
  CHECK(LocaleMatches("en-us", "EN-US"));
  CHECK(LocaleMatches("en-US", "en_US"));
  CHECK_FALSE(LocaleMatches("en-US", "en"));
  CHECK_FALSE(LocaleMatches("en-US", "en-GB"));
  CHECK_FALSE(LocaleMatches("de", "deu"));   // not a prefix at a subtag boundary
  CHECK_FALSE(LocaleMatches("de", "en-DE"));
  CHECK_FALSE(LocaleMatches("de", ""));
  CHECK_FALSE(LocaleMatches("", "de"));
}

TEST_CASE("RequestView: headers, cookies, channel", "[router][flight]") {
  auto r = Request({{"User-Agent", "curl/8"},
                    {"Accept-Language", "de"},
                    {"Cookie", "a=1; skyport_channel=beta"},
                    {"X-Skyport-Channel", "stable"},
                    {"X-Team", "red"}});
  RequestView v = r->view();
  CHECK(v.user_agent() == "curl/8");
  CHECK(v.accept_language() == "de");
  CHECK(v.channel() == "beta");  // the cookie wins over the header
  CHECK(v.Header("x-team") == std::optional<std::string_view>("red"));
  CHECK_FALSE(v.Header("x-none").has_value());
  CHECK(v.Cookie("a") == "1");
  auto h = Request({{"X-Skyport-Channel", "Canary"}});
  CHECK(h->view().channel() == "Canary");
  CHECK(Request({})->view().channel() == "");
}

v1::FlightFilter Filter(std::vector<std::string> channels, std::vector<std::string> oses,
                        std::vector<std::string> locales, std::map<std::string, std::string> headers = {}) {
  v1::FlightFilter f;
  for (auto& c : channels) f.add_channels(c);
  for (auto& o : oses) f.add_oses(o);
  for (auto& l : locales) f.add_locales(l);
  for (auto& [k, v] : headers) (*f.mutable_headers())[k] = v;
  return f;
}

TEST_CASE("FlightMatcher: every non-empty list must match", "[router][flight]") {
  const FlightMatcher any{v1::FlightFilter()};
  CHECK(any.matches_everyone());
  CHECK(any.Matches(Request({})->view()));

  const FlightMatcher linux_or_mac(Filter({}, {"linux", "mac"}, {}));
  CHECK(linux_or_mac.Matches(Request({{"User-Agent", kFirefoxLinux}})->view()));
  CHECK(linux_or_mac.Matches(Request({{"User-Agent", kSafariMac}})->view()));
  CHECK_FALSE(linux_or_mac.Matches(Request({{"User-Agent", kAndroidChrome}})->view()));
  CHECK_FALSE(linux_or_mac.Matches(Request({{"User-Agent", "curl/8.5.0"}})->view()));
  CHECK_FALSE(linux_or_mac.Matches(Request({})->view()));

  const FlightMatcher unknown_os(Filter({}, {"beos"}, {}));
  CHECK_FALSE(unknown_os.Matches(Request({{"User-Agent", kFirefoxLinux}})->view()));
  CHECK_FALSE(unknown_os.Matches(Request({})->view()));

  const FlightMatcher german(Filter({}, {}, {"de"}));
  CHECK(german.Matches(Request({{"Accept-Language", "de-AT,en;q=0.5"}})->view()));
  CHECK_FALSE(german.Matches(Request({{"Accept-Language", "en;q=0.9,de;q=0.5"}})->view()));  // prefers English
  CHECK_FALSE(german.Matches(Request({})->view()));

  const FlightMatcher beta(Filter({"beta", "Canary"}, {}, {}));
  CHECK(beta.Matches(Request({{"Cookie", "skyport_channel=BETA"}})->view()));
  CHECK(beta.Matches(Request({{"X-Skyport-Channel", "canary"}})->view()));
  CHECK_FALSE(beta.Matches(Request({{"X-Skyport-Channel", "stable"}})->view()));
  CHECK_FALSE(beta.Matches(Request({})->view()));

  const FlightMatcher team(Filter({}, {}, {}, {{"x-team", "red"}, {"x-beta", "1"}}));
  CHECK(team.Matches(Request({{"X-Team", "red"}, {"X-Beta", "1"}})->view()));
  CHECK_FALSE(team.Matches(Request({{"X-Team", "Red"}, {"X-Beta", "1"}})->view()));  // values are exact
  CHECK_FALSE(team.Matches(Request({{"X-Team", "red"}})->view()));
  const FlightMatcher empty_value(Filter({}, {}, {}, {{"x-flag", ""}}));
  CHECK(empty_value.Matches(Request({{"X-Flag", ""}})->view()));
  CHECK_FALSE(empty_value.Matches(Request({})->view()));  // absent is not empty

  const FlightMatcher all(Filter({"beta"}, {"windows"}, {"en-US"}, {{"x-team", "red"}}));
  const std::vector<std::pair<std::string, std::string>> good = {
      {"User-Agent", kChromeWindows}, {"Accept-Language", "en-US,en;q=0.9"}, {"X-Skyport-Channel", "beta"},
      {"X-Team", "red"}};
  CHECK(all.Matches(Request(good)->view()));
  for (size_t drop = 0; drop < good.size(); ++drop) {
    auto less = good;
    less.erase(less.begin() + static_cast<long>(drop));
    INFO("without " << good[drop].first);
    CHECK_FALSE(all.Matches(Request(less)->view()));
  }
}

std::string HexId(uint64_t i) { return fmt::format("{:016x}{:016x}", i * 0x9e3779b97f4a7c15ULL, i); }

TEST_CASE("InRange: a ~20% range enrolls ~20%, independently of the arm position", "[router][flight]") {
  constexpr int kUsers = 100'000;
  int enrolled = 0, enrolled_first_half = 0, same_salt_first_half = 0;
  for (int i = 0; i < kUsers; ++i) {
    const std::string id = HexId(static_cast<uint64_t>(i));
    if (!InRange(id, "checkout-v2.1", 0, 200'000)) continue;
    ++enrolled;
    // The arm assignment hashes with the split id (== the flight id): a 50/50 split.
    if (UserPosition(id, "checkout-v2.1") < 500'000) ++enrolled_first_half;
    // What the same salt would do: every enrolled user in the first arm.
    if (UserPosition(id, "checkout-v2.1.enroll") < 500'000) ++same_salt_first_half;
  }
  // n = 100k, p = 0.2: sd 0.13 point; 1 point is ~8 sd.
  CHECK(enrolled / double(kUsers) == Approx(0.20).margin(0.01));
  // n ~ 20k, p = 0.5: sd 0.35 point; 2 points is ~5.6 sd.
  CHECK(enrolled_first_half / double(enrolled) == Approx(0.50).margin(0.02));
  CHECK(same_salt_first_half == enrolled);

  CHECK_FALSE(InRange("", "f", 0, kSliceUnits));
  CHECK(InRange("anyone", "f", 0, kSliceUnits));
  CHECK_FALSE(InRange("anyone", "f", 0, 0));
  const uint32_t pos = UserPosition("u1", "f.enroll");
  CHECK(InRange("u1", "f", pos, pos + 1));
  CHECK_FALSE(InRange("u1", "f", pos + 1, kSliceUnits));
}

v1::FlightRoute FlightProto() {
  v1::FlightRoute f;
  f.set_name("checkout-v2");
  f.set_id("checkout-v2.1");
  f.set_control("aaaa");
  (*f.mutable_arms())["control"] = "aaaa";
  (*f.mutable_arms())["treatment"] = "bbbb";
  f.set_range_key("uid");
  f.set_range_ge(0);
  f.set_range_lt(kSliceUnits);
  return f;
}

TEST_CASE("Flight: enrollment by range key, filter and end_by", "[router][flight]") {
  v1::FlightRoute proto = FlightProto();
  proto.set_end_by_unix_ms(5000);
  *proto.mutable_filter() = Filter({}, {"linux"}, {});
  Flight f = CompileFlight(proto, 3);
  CHECK(f.name == "checkout-v2");
  CHECK(f.control_arm == 3);
  CHECK(f.range_key.empty());  // "uid"
  CHECK(f.enroll_salt == "checkout-v2.1.enroll");
  CHECK_FALSE(f.Over(4999));
  CHECK(f.Over(5000));
  CHECK_FALSE(CompileFlight(FlightProto(), 0).Over(INT64_MAX));  // no end_by: never over

  auto linux_user = Request({{"User-Agent", kFirefoxLinux}});
  auto mac_user = Request({{"User-Agent", kSafariMac}});
  CHECK(f.Enrolls(linux_user->view(), "0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(f.Enrolls(mac_user->view(), "0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(f.Enrolls(linux_user->view(), ""));

  // Half the range: exactly the users InRange says.
  proto.set_range_lt(500'000);
  f = CompileFlight(proto, 0);
  int in = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = HexId(static_cast<uint64_t>(i));
    const bool enrolled = f.Enrolls(linux_user->view(), id);
    CHECK(enrolled == InRange(id, "checkout-v2.1", 0, 500'000));
    in += enrolled;
  }
  CHECK(in > 800);
  CHECK(in < 1200);

  // A named key: the cookie, else the header; absent = not enrolled.
  proto.set_range_key("sid");
  proto.set_range_lt(kSliceUnits);
  f = CompileFlight(proto, 0);
  auto by_cookie = Request({{"User-Agent", kFirefoxLinux}, {"Cookie", "sid=s-1"}, {"Sid", "s-2"}});
  auto by_header = Request({{"User-Agent", kFirefoxLinux}, {"SID", "s-2"}});
  CHECK(f.RangeKeyOf(by_cookie->view(), "uid-ignored") == "s-1");
  CHECK(f.RangeKeyOf(by_header->view(), "uid-ignored") == "s-2");
  CHECK(f.RangeKeyOf(linux_user->view(), "uid-ignored") == "");
  CHECK(f.Enrolls(by_cookie->view(), "u"));
  CHECK_FALSE(f.Enrolls(linux_user->view(), "u"));
  const uint32_t pos = UserPosition("s-1", "checkout-v2.1.enroll");
  proto.set_range_ge(pos + 1);
  CHECK_FALSE(CompileFlight(proto, 0).Enrolls(by_cookie->view(), "u"));
}

v1::Endpoint Ep(const std::string& commit, uint32_t port) {
  v1::Endpoint ep;
  ep.set_app("web");
  ep.set_commit(commit);
  ep.set_role("web");
  ep.set_host("127.0.0.1");
  ep.set_port(port);
  ep.set_health(v1::HEALTH_PASSING);
  ep.set_registered_unix_ms(1000);
  return ep;
}

TEST_CASE("BuildFromRegistry: the flight, its control an arm even without weight", "[router][flight]") {
  const std::string kA = "aaaa111122223333444455556666777788889999";
  const std::string kB = "bbbb111122223333444455556666777788889999";
  const std::string kC = "cccc111122223333444455556666777788889999";
  v1::RouteConfig route;
  route.set_app("web");
  route.set_split_id("checkout-v2.1");
  (*route.mutable_weights())["bbbb"] = 50;  // abbreviations resolve as for weights
  (*route.mutable_weights())[kC] = 50;
  v1::FlightRoute proto = FlightProto();
  proto.set_control("aaaa");
  (*proto.mutable_arms())["control"] = kA;  // enrolled users are split 50/50 between the treatments
  (*proto.mutable_arms())["treatment"] = kB;
  (*proto.mutable_arms())["treatment2"] = kC;
  proto.set_range_lt(250'000);
  proto.set_end_by_unix_ms(1'900'000'000'000);
  *proto.mutable_filter() = Filter({"beta"}, {"linux"}, {"de"}, {{"x-team", "red"}});
  *route.mutable_flight() = proto;

  auto table = BuildFromRegistry({Ep(kA, 9001), Ep(kB, 9002), Ep(kC, 9003)}, {route}, 7, TableOptions{}, nullptr);
  REQUIRE(table->apps.size() == 1);
  const AppRoute& app = *table->apps[0];
  REQUIRE(app.flight);
  REQUIRE(app.flight->control_arm >= 0);
  CHECK(app.arms[static_cast<size_t>(app.flight->control_arm)].commit == kA);
  CHECK(app.arms[static_cast<size_t>(app.flight->control_arm)].weight == 0);
  CHECK(app.flight->name == "checkout-v2");
  CHECK(app.flight->range_lt == 250'000);

  // The control need not have instances (nor endpoints) to be an arm.
  v1::RouteConfig cold = route;
  cold.mutable_flight()->set_control("dddd");
  auto t2 = BuildFromRegistry({Ep(kB, 9002), Ep(kC, 9003)}, {cold}, 8, TableOptions{}, nullptr);
  const AppRoute& app2 = *t2->apps[0];
  REQUIRE(app2.flight);
  REQUIRE(app2.flight->control_arm >= 0);
  CHECK(app2.arms[static_cast<size_t>(app2.flight->control_arm)].commit == "dddd");
  CHECK(app2.arms[static_cast<size_t>(app2.flight->control_arm)].instances.empty());

  // No flight: none.
  route.clear_flight();
  CHECK_FALSE(BuildFromRegistry({Ep(kA, 9001)}, {route}, 9, TableOptions{}, nullptr)->apps[0]->flight);

  auto doc = nlohmann::json::parse(RoutesJson(*table));
  const auto& flight = doc["apps"]["web"]["flight"];
  CHECK(flight["name"] == "checkout-v2");
  CHECK(flight["id"] == "checkout-v2.1");
  CHECK(flight["control"] == kA);
  CHECK(flight["filter"]["channels"] == nlohmann::json::array({"beta"}));
  CHECK(flight["filter"]["oses"] == nlohmann::json::array({"linux"}));
  CHECK(flight["filter"]["locales"] == nlohmann::json::array({"de"}));
  CHECK(flight["filter"]["headers"] == nlohmann::json{{"x-team", "red"}});
  CHECK(flight["range"] == nlohmann::json{{"key", "uid"}, {"ge", 0}, {"lt", 250'000}});
  CHECK(flight["end_by_unix_ms"] == 1'900'000'000'000);
  CHECK(nlohmann::json::parse(RoutesJson(*BuildFromRegistry({Ep(kA, 9001)}, {route}, 9, TableOptions{}, nullptr)))
            ["apps"]["web"]["flight"]
                .is_null());
}

TEST_CASE("LoadStaticRoutes: an optional flight per app", "[router][flight]") {
  const char* good = R"({"apps": [{"name": "web", "arms": [
      {"commit": "a", "weight": 50, "upstreams": ["127.0.0.1:9001"]},
      {"commit": "b", "weight": 50, "upstreams": ["127.0.0.1:9002"]},
      {"commit": "c", "upstreams": ["127.0.0.1:9003"]}],
    "flight": {"name": "exp", "id": "exp.1", "control": "c", "arms": {"control": "c", "t": "b"},
               "filter": {"oses": ["linux"], "headers": {"x-team": "red"}},
               "rangeKey": "sid", "rangeGe": 0, "rangeLt": 250000, "endByUnixMs": "1900000000000"}}]})";
  auto table = LoadStaticRoutes(good, 1, TableOptions{}, nullptr);
  REQUIRE(table.ok());
  const AppRoute& app = *(*table)->apps[0];
  CHECK(app.split_id == "exp.1");  // the flight's id when split_id is absent
  REQUIRE(app.flight);
  CHECK(app.arms[static_cast<size_t>(app.flight->control_arm)].commit == "c");
  CHECK(app.flight->range_key == "sid");
  CHECK(app.flight->range_lt == 250'000);
  CHECK(app.flight->end_by_unix_ms == 1'900'000'000'000);
  CHECK_FALSE(app.flight->matcher.matches_everyone());

  const char* bad = R"({"apps": [{"name": "web", "split_id": "s1", "arms": [{"commit": "a", "weight": 1}],
    "flight": {"name": "Exp", "id": "exp.1", "control": "z", "filter": {"oses": ["os2"]}, "rangeLt": 0,
               "endByUnixMs": -1}}]})";
  auto refused = LoadStaticRoutes(bad, 1, TableOptions{}, nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() ==
        "apps[0].flight.name: \"Exp\" must match [a-z0-9][a-z0-9-]{0,62}; "
        "apps[0].flight.id: \"exp.1\" must equal the app's split_id (\"s1\"); "
        "apps[0].flight.control: \"z\" is not one of the app's arms; "
        "apps[0].flight.filter.oses[0]: \"os2\" must be one of android, ios, chromeos, windows, mac, linux; "
        "apps[0].flight.range_lt: [0, 0) must satisfy 0 <= range_ge < range_lt <= 1000000; "
        "apps[0].flight.end_by_unix_ms: -1 is negative");
  auto unknown = LoadStaticRoutes(
      R"({"apps": [{"name": "web", "arms": [{"commit": "a"}], "flight": {"name": "e", "colour": 1}}]})", 1,
      TableOptions{}, nullptr);
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.status().message(), Catch::StartsWith("apps[0].flight: ") && Catch::Contains("colour"));
}

}  // namespace
}  // namespace skyport::router
