// The console review's findings in the pure pieces (hub/console/): a shadowing
// session cookie from another port of the host, and the login limiter's key
// (a local guesser has all of 127.0.0.0/8; an IPv6 host its /64), and the
// Host names the console answers (DNS rebinding).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "hub/console/console_request.h"
#include "hub/console/host_check.h"
#include "hub/console/login_limiter.h"

namespace skyport::hub::console {
namespace {

TEST_CASE("CookieValues: every value of the name, in order", "[hub][console]") {
  using V = std::vector<std::string>;
  CHECK(CookieValues("skyport_session=junk; a=1; skyport_session=good", kSessionCookie) == V{"junk", "good"});
  CHECK(CookieValues("skyport_session=\"q\";skyport_session=", kSessionCookie) == V{"q", ""});
  CHECK(CookieValues("a=1; xskyport_session=2", kSessionCookie).empty());
  CHECK(CookieValues("", kSessionCookie).empty());
  CHECK(CookieValues(";;;skyport_session=x;;", kSessionCookie) == V{"x"});
}

TEST_CASE("LoginLimiterKey: 127/8 is one client, IPv6 by /64", "[hub][console]") {
  CHECK(LoginLimiterKey("127.0.0.1") == "127.0.0.0/8");
  CHECK(LoginLimiterKey("127.45.6.7") == "127.0.0.0/8");
  CHECK(LoginLimiterKey("::ffff:127.0.0.9") == "127.0.0.0/8");
  CHECK(LoginLimiterKey("10.1.2.3") == "10.1.2.3");
  CHECK(LoginLimiterKey("::ffff:10.1.2.3") == "10.1.2.3");
  CHECK(LoginLimiterKey("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(LoginLimiterKey("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64");
  CHECK(LoginLimiterKey("2001:db8:1:3::1") == "2001:db8:1:3::/64");
  CHECK(LoginLimiterKey("::1") == "::/64");
  CHECK(LoginLimiterKey("not-an-address") == "not-an-address");

  // Guesses spread over loopback source addresses share one budget.
  LoginLimiter l(LoginLimits{3, 60'000, 100});
  for (int i = 2; i < 5; ++i) l.Failed(LoginLimiterKey("127.0.0." + std::to_string(i)), 0);
  CHECK_FALSE(l.Allowed(LoginLimiterKey("127.0.0.99"), 1));
  CHECK(l.Allowed(LoginLimiterKey("10.0.0.1"), 1));
}

TEST_CASE("HostAllowed: IP literals, localhost and the listed names only (DNS rebinding)", "[hub][console]") {
  const std::vector<std::string> none;
  const std::vector<std::string> listed{"Console.Example.com."};
  for (const char* ok : {"127.0.0.1:6004", "127.0.0.1", "10.0.0.7:80", "[::1]:6004", "[::1]", "localhost:6004",
                         "LOCALHOST.", "app.localhost:1", "", " "})
    CHECK(HostAllowed(ok, none));
  for (const char* bad : {"evil.example:6004", "evil.example", ":6004", "localhost.evil.example", "xlocalhost",
                          "127.0.0.1.evil.example", "[::1", "::1", "a:b:c", "127.0.0.1:x", "127.0.0.1:123456",
                          "a b", "console.example.com:443"})
    CHECK_FALSE(HostAllowed(bad, none));
  CHECK(HostAllowed("console.example.com:443", listed));
  CHECK(HostAllowed("CONSOLE.example.com.", listed));
  CHECK(HostAllowed("console.example.com", {"console.example.com:8443"}));  // a listed port is not compared
  CHECK_FALSE(HostAllowed("other.example.com", listed));
  CHECK(HostName("Name.Example.:6004") == "name.example");
  CHECK(HostName("[::1]:6004") == "::1");
  CHECK(HostName("[::1]x") == std::nullopt);
}

TEST_CASE("OriginListed: a browser's Origin naming a listed console host", "[hub][console]") {
  const std::vector<std::string> listed{"console.example.com"};
  CHECK(OriginListed("https://console.example.com", listed));
  CHECK(OriginListed("http://Console.Example.com:8443", listed));
  CHECK_FALSE(OriginListed("https://console.example.com.evil.example", listed));
  CHECK_FALSE(OriginListed("https://evil.example", listed));
  CHECK_FALSE(OriginListed("null", listed));
  CHECK_FALSE(OriginListed("https://console.example.com/x", listed));
  CHECK_FALSE(OriginListed("ftp://console.example.com", listed));
  CHECK_FALSE(OriginListed("https://console.example.com", {}));
}

}  // namespace
}  // namespace skyport::hub::console
