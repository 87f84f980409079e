// The console's pure pieces (hub/console/): sessions with time as input, the
// login limiter, the CSRF/Origin check, routes, cookies and request bodies.
#include <catch2/catch.hpp>

#include <string>

#include "hub/console/console_request.h"
#include "hub/console/login_limiter.h"
#include "hub/console/session_table.h"

namespace skyport::hub::console {
namespace {

using Kind = Route::Kind;

TEST_CASE("SessionTable: idle and absolute expiry, with the time as input", "[hub][console]") {
  SessionTable t(SessionLimits{10, /*idle_ms=*/1000, /*absolute_ms=*/5000});
  t.Create("s1", "c1", 0);
  CHECK(t.Touch("s1", 999) == "c1");
  CHECK(t.Touch("s1", 1998) == "c1");  // used at 999: still inside the idle window
  CHECK_FALSE(t.Touch("nope", 1998));
  CHECK_FALSE(t.Touch("s1", 2998));    // idle for 1000 ms
  CHECK(t.size() == 0);
  CHECK(t.counters().expired == 1);

  t.Create("s2", "c2", 10'000);
  for (int64_t now = 10'500; now < 15'000; now += 500) CHECK(t.Touch("s2", now) == "c2");
  CHECK_FALSE(t.Touch("s2", 15'000));  // 5 s after login, used or not
}

TEST_CASE("SessionTable: bounded; the least recently used session goes first", "[hub][console]") {
  SessionTable t(SessionLimits{2, 60'000, 600'000});
  t.Create("a", "ca", 0);
  t.Create("b", "cb", 1);
  CHECK(t.Touch("a", 2));  // b is now the least recently used
  t.Create("c", "cc", 3);
  CHECK(t.size() == 2);
  CHECK(t.Touch("a", 4));
  CHECK_FALSE(t.Touch("b", 4));
  CHECK(t.Touch("c", 4));
  CHECK(t.counters().evicted == 1);
  CHECK(t.Remove("a"));
  CHECK_FALSE(t.Remove("a"));
  CHECK(t.counters().logged_out == 1);
}

TEST_CASE("SessionTable: Sweep drops every expired session", "[hub][console]") {
  SessionTable t(SessionLimits{100, 1000, 10'000});
  for (int i = 0; i < 10; ++i) t.Create("s" + std::to_string(i), "c", i * 100);
  CHECK(t.Sweep(1450) == 5);  // s0..s4 last used at 0..400
  CHECK(t.size() == 5);
}

TEST_CASE("LoginLimiter: five failures a minute per address, then a wait", "[hub][console]") {
  LoginLimiter l(LoginLimits{5, 60'000, 100});
  for (int i = 0; i < 5; ++i) {
    CHECK(l.Allowed("10.0.0.1", i * 1000));
    l.Failed("10.0.0.1", i * 1000);
  }
  CHECK_FALSE(l.Allowed("10.0.0.1", 5000));
  CHECK(l.RetryAfterMs("10.0.0.1", 5000) == 55'000);  // until the first failure leaves the window
  CHECK(l.Allowed("10.0.0.2", 5000));                 // another address is not affected
  CHECK(l.Allowed("10.0.0.1", 60'000));
  CHECK(l.tracked() == 1);
}

TEST_CASE("LoginLimiter: a flood of addresses shares one bucket once the table is full", "[hub][console]") {
  LoginLimiter l(LoginLimits{2, 60'000, /*max_addresses=*/3});
  for (int i = 0; i < 3; ++i) l.Failed("a" + std::to_string(i), 0);
  CHECK(l.tracked() == 3);
  l.Failed("new-1", 0);
  l.Failed("new-2", 0);
  CHECK(l.tracked() <= 4);                 // the three, plus the shared bucket
  CHECK_FALSE(l.Allowed("new-3", 0));      // the shared bucket has its two failures
  CHECK(l.Allowed("new-3", 60'000));       // old failures leave the window
  l.Failed("new-4", 61'000);               // full table: expired entries are pruned first
  CHECK(l.tracked() <= 4);
}

TEST_CASE("CheckCsrf: the session's token and, when sent, this console's origin", "[hub][console]") {
  const std::string csrf(64, 'a');
  CHECK(CheckCsrf(csrf, csrf, std::nullopt, "127.0.0.1:6004") == CsrfVerdict::kOk);
  CHECK(CheckCsrf(csrf, csrf, "http://127.0.0.1:6004", "127.0.0.1:6004") == CsrfVerdict::kOk);
  CHECK(CheckCsrf(csrf, csrf, "https://console.example", "console.example") == CsrfVerdict::kOk);
  CHECK(CheckCsrf(std::nullopt, csrf, std::nullopt, "h") == CsrfVerdict::kMissingToken);
  CHECK(CheckCsrf("", csrf, std::nullopt, "h") == CsrfVerdict::kMissingToken);
  CHECK(CheckCsrf(std::string(64, 'b'), csrf, std::nullopt, "h") == CsrfVerdict::kWrongToken);
  CHECK(CheckCsrf("a", csrf, std::nullopt, "h") == CsrfVerdict::kWrongToken);
  CHECK(CheckCsrf(csrf, "", std::nullopt, "h") == CsrfVerdict::kWrongToken);
  CHECK(CheckCsrf(csrf, csrf, "http://evil.example", "127.0.0.1:6004") == CsrfVerdict::kForeignOrigin);
  CHECK(CheckCsrf(csrf, csrf, "null", "127.0.0.1:6004") == CsrfVerdict::kForeignOrigin);
  CHECK(CheckCsrf(csrf, csrf, "http://127.0.0.1:6005", "127.0.0.1:6004") == CsrfVerdict::kForeignOrigin);
  CHECK(CheckCsrf(csrf, csrf, "http://127.0.0.1:6004", "") == CsrfVerdict::kForeignOrigin);
  // The origin is judged first: a cross-site request learns nothing about the token.
  CHECK(CheckCsrf(std::nullopt, csrf, "http://evil.example", "h") == CsrfVerdict::kForeignOrigin);
}

TEST_CASE("ParseRoute: pages, assets and every API route", "[hub][console]") {
  struct Case {
    const char* target;
    Kind kind;
    const char* method;
    const char* app;
    const char* name;
  };
  const Case cases[] = {
      {"/", Kind::kPage, "GET", "", ""},
      {"/login", Kind::kPage, "GET", "", ""},
      {"/apps/web?x=1", Kind::kPage, "GET", "", ""},
      {"/assets/app.js", Kind::kAsset, "GET", "", "app.js"},
      {"/assets/css/site.css", Kind::kAsset, "GET", "", "css/site.css"},
      {"/assets/../api/overview", Kind::kNotFound, "", "", ""},
      {"/assets/", Kind::kNotFound, "", "", ""},
      {"/assets/%2e%2e", Kind::kNotFound, "", "", ""},
      {"/api/login", Kind::kLogin, "POST", "", ""},
      {"/api/logout", Kind::kLogout, "POST", "", ""},
      {"/api/session", Kind::kSession, "GET", "", ""},
      {"/api/overview", Kind::kOverview, "GET", "", ""},
      {"/api/apps/web", Kind::kApp, "GET", "web", ""},
      {"/api/apps/web/stats?bucket=day", Kind::kAppStats, "GET", "web", ""},
      {"/api/apps/web/split", Kind::kSplit, "POST", "web", ""},
      {"/api/apps/web/split/preview", Kind::kSplitPreview, "POST", "web", ""},
      {"/api/apps/web/rollback", Kind::kRollback, "POST", "web", ""},
      {"/api/flights", Kind::kFlights, "GET", "", ""},
      {"/api/flights/f1", Kind::kFlight, "GET", "", "f1"},
      {"/api/flights/f1/kill", Kind::kFlightKill, "POST", "", "f1"},
      {"/api/registry", Kind::kRegistry, "GET", "", ""},
      {"/api/drones", Kind::kDrones, "GET", "", ""},
      {"/api/events", Kind::kEvents, "GET", "", ""},
      {"/api", Kind::kNotFound, "", "", ""},
      {"/api/nothing", Kind::kNotFound, "", "", ""},
      {"/api/apps/web/other", Kind::kNotFound, "", "", ""},
      {"/api/apps/Bad_Name", Kind::kBadName, "", "", ""},
      {"/api/flights/..", Kind::kBadName, "", "", ""},
      {"/api/overview?x=%zz", Kind::kBadName, "", "", ""},
  };
  for (const Case& c : cases) {
    INFO(c.target);
    Route r = ParseRoute(c.target);
    CHECK(r.kind == c.kind);
    CHECK(std::string(r.method) == c.method);
    CHECK(r.app == c.app);
    CHECK(r.name == c.name);
  }
  CHECK(ParseRoute("/api/apps/web/stats?bucket=day&event=buy").query.at("event") == "buy");
  CHECK_FALSE(ParseRoute("/").is_api());
  CHECK(ParseRoute("/api/nothing").is_api());
}

TEST_CASE("CookieValue and BearerToken", "[hub][console]") {
  CHECK(CookieValue("skyport_session=abc", kSessionCookie) == "abc");
  CHECK(CookieValue("a=1; skyport_session=abc; b=2", kSessionCookie) == "abc");
  CHECK(CookieValue("a=1;skyport_session=\"abc\"", kSessionCookie) == "abc");
  CHECK(CookieValue("xskyport_session=abc", kSessionCookie) == std::nullopt);
  CHECK(CookieValue("skyport_session", kSessionCookie) == std::nullopt);
  CHECK(CookieValue("", kSessionCookie) == std::nullopt);
  CHECK(BearerToken("Bearer t0k") == "t0k");
  CHECK(BearerToken("bearer   t0k ") == "t0k");
  CHECK(BearerToken("Basic dTpw") == std::nullopt);
  CHECK(BearerToken("Bearer ") == std::nullopt);
}

TEST_CASE("LoginToken: JSON or a form; no token is an error", "[hub][console]") {
  CHECK(*LoginToken("application/json", R"({"token":"t"})") == "t");
  CHECK(*LoginToken("", R"({"token":"t"})") == "t");
  CHECK(*LoginToken("application/x-www-form-urlencoded", "token=a%2Bb&x=1") == "a+b");
  CHECK_FALSE(LoginToken("application/json", R"({"token":""})").ok());
  CHECK_FALSE(LoginToken("application/json", R"({"token":5})").ok());
  CHECK_FALSE(LoginToken("application/json", "[1]").ok());
  CHECK_FALSE(LoginToken("application/json", "{").ok());
  CHECK_FALSE(LoginToken("application/x-www-form-urlencoded", "token=%zz").ok());
  CHECK_FALSE(LoginToken("text/plain", "nothing").ok());
}

TEST_CASE("Action bodies: split weights, rollback release, kill reason", "[hub][console]") {
  auto args = SplitBodyArgs(R"({"weights":{"abcd1234":90,"ef012345":10}})");
  REQUIRE(args.ok());
  CHECK(*args == std::vector<std::string>{"abcd1234=90", "ef012345=10"});
  CHECK_FALSE(SplitBodyArgs(R"({"weights":{}})").ok());
  CHECK_FALSE(SplitBodyArgs(R"({"weights":{"abcd":-1}})").ok());
  CHECK_FALSE(SplitBodyArgs(R"({"weights":{"abcd":1.5}})").ok());
  CHECK_FALSE(SplitBodyArgs(R"({"weights":"abcd=1"})").ok());
  CHECK_FALSE(SplitBodyArgs("").ok());
  CHECK(*RollbackBodyRelease("") == "");
  CHECK(*RollbackBodyRelease("{}") == "");
  CHECK(*RollbackBodyRelease(R"({"release":null})") == "");
  CHECK(*RollbackBodyRelease(R"({"release":"v3"})") == "v3");
  CHECK_FALSE(RollbackBodyRelease(R"({"release":3})").ok());
  CHECK(*KillBodyReason(R"({"reason":"bad p99"})") == "bad p99");
  CHECK(*KillBodyReason("") == "");
  CHECK_FALSE(KillBodyReason(R"({"reason":")" + std::string(1001, 'x') + "\"}").ok());
}

TEST_CASE("ParseStatsParams: the bucket is one of the CLI's --by values", "[hub][console]") {
  for (const char* b : {"hour", "day", "week", "month"}) CHECK(ParseStatsParams({{"bucket", b}})->by == b);
  CHECK(ParseStatsParams({})->by.empty());
  CHECK_FALSE(ParseStatsParams({{"bucket", "year"}}).ok());
  CHECK(ParseStatsParams({{"event", "buy"}, {"flight", "f1"}})->event == "buy");
  CHECK_FALSE(ParseStatsParams({{"event", std::string(300, 'e')}}).ok());
}

}  // namespace
}  // namespace skyport::hub::console
