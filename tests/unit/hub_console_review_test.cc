// The console review's findings in the pure pieces (hub/console/): a shadowing
// session cookie from another port of the host.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "hub/console/console_request.h"

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

}  // namespace
}  // namespace skyport::hub::console
