#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "router/uri.h"

using namespace skyport::router::uri;

namespace {

const char* VerdictName(PathVerdict v) {
  switch (v) {
    case PathVerdict::kSame: return "same";
    case PathVerdict::kRewritten: return "rewritten";
    case PathVerdict::kRefused: return "refused";
  }
  return "?";
}

}  // namespace

TEST_CASE("NormalizePath: RFC 3986 normal form, encoded slashes refused", "[router]") {
  struct Case {
    const char* in;
    PathVerdict verdict;
    const char* out;  // kRewritten: the normal form; kRefused: the reason
  } cases[] = {
      // Already normal: untouched (and the fast path).
      {"/", PathVerdict::kSame, ""},
      {"/shop/cart", PathVerdict::kSame, ""},
      {"/a//b/", PathVerdict::kSame, ""},  // empty segments stay
      {"/.well-known/x", PathVerdict::kSame, ""},
      {"/a/..b/c.", PathVerdict::kSame, ""},
      {"/%20x", PathVerdict::kSame, ""},
      {"/%C3%A9", PathVerdict::kSame, ""},
      {"*", PathVerdict::kSame, ""},
      {"", PathVerdict::kSame, ""},
      // Dot segments (RFC 3986 5.2.4).
      {"/shop/../admin", PathVerdict::kRewritten, "/admin"},
      {"/shop/./../admin", PathVerdict::kRewritten, "/admin"},
      {"/a/b/..", PathVerdict::kRewritten, "/a/"},
      {"/a/b/.", PathVerdict::kRewritten, "/a/b/"},
      {"/a/./b", PathVerdict::kRewritten, "/a/b"},
      {"/..", PathVerdict::kRewritten, "/"},
      {"/.", PathVerdict::kRewritten, "/"},
      {"/../../x", PathVerdict::kRewritten, "/x"},
      {"/a/../../b/../c", PathVerdict::kRewritten, "/c"},
      {"/a//..", PathVerdict::kRewritten, "/a/"},
      {"/a/b/../../..", PathVerdict::kRewritten, "/"},
      // Unreserved characters decoded, others kept with uppercase hex.
      {"/shop/%2e%2E/admin", PathVerdict::kRewritten, "/admin"},
      {"/%2e", PathVerdict::kRewritten, "/"},
      {"/shop/%7ecart", PathVerdict::kRewritten, "/shop/~cart"},
      {"/%41%62%2D%5f%7E%30", PathVerdict::kRewritten, "/Ab-_~0"},
      {"/%c3%a9", PathVerdict::kRewritten, "/%C3%A9"},
      {"/a%3fb", PathVerdict::kRewritten, "/a%3Fb"},
      {"/%25", PathVerdict::kSame, ""},
      {"/%252e%252e/x", PathVerdict::kSame, ""},  // decoded once only: "%2e" stays data
      {"/a/%2e%2e%2e/b", PathVerdict::kRewritten, "/a/.../b"},
      // Refused.
      {"/shop/a%2fb", PathVerdict::kRefused, "encoded slash (%2F or %5C) in path"},
      {"/shop/..%2Fadmin", PathVerdict::kRefused, "encoded slash (%2F or %5C) in path"},
      {"/shop/..%5cadmin", PathVerdict::kRefused, "encoded slash (%2F or %5C) in path"},
      {"/a%00b", PathVerdict::kRefused, "NUL (%00) in path"},
      {"/a%zz", PathVerdict::kRefused, "invalid percent-encoding in path"},
      {"/a%2", PathVerdict::kRefused, "invalid percent-encoding in path"},
      {"/a%", PathVerdict::kRefused, "invalid percent-encoding in path"},
      {"/a%g1", PathVerdict::kRefused, "invalid percent-encoding in path"},
      // A raw backslash is no URI character; some upstreams read it as '/'.
      {"/shop\\..\\admin", PathVerdict::kRefused, "backslash in path"},
      {"/a\\b", PathVerdict::kRefused, "backslash in path"},
      {"/\\", PathVerdict::kRefused, "backslash in path"},
      {"/shop/..\\admin", PathVerdict::kRefused, "backslash in path"},
  };
  std::string out = "stale";
  for (const auto& c : cases) {
    INFO(c.in);
    PathResult res = NormalizePath(c.in, /*unescape_slashes=*/false, out);
    CHECK(VerdictName(res.verdict) == std::string_view(VerdictName(c.verdict)));
    if (c.verdict == PathVerdict::kRewritten) CHECK(out == c.out);
    if (c.verdict == PathVerdict::kRefused) CHECK(std::string_view(res.reason) == c.out);
  }
}

TEST_CASE("NormalizePath: with unescape_slashes, %2F, %5C and '\\' are '/' before dot segments", "[router]") {
  struct Case {
    const char* in;
    PathVerdict verdict;
    const char* out;
  } cases[] = {
      {"/shop/..%2fadmin", PathVerdict::kRewritten, "/admin"},
      {"/shop/a%2Fb", PathVerdict::kRewritten, "/shop/a/b"},
      {"/shop/a%5Cb", PathVerdict::kRewritten, "/shop/a/b"},
      {"/shop/..%5cadmin", PathVerdict::kRewritten, "/admin"},
      {"/shop\\..\\admin", PathVerdict::kRewritten, "/admin"},
      {"/shop/..\\admin", PathVerdict::kRewritten, "/admin"},
      {"/a\\b", PathVerdict::kRewritten, "/a/b"},
      {"/%2e%2e%2f%2e%2e%2fetc", PathVerdict::kRewritten, "/etc"},
      {"/a%00", PathVerdict::kRefused, ""},
      {"/ok", PathVerdict::kSame, ""},
  };
  std::string out;
  for (const auto& c : cases) {
    INFO(c.in);
    PathResult res = NormalizePath(c.in, /*unescape_slashes=*/true, out);
    CHECK(VerdictName(res.verdict) == std::string_view(VerdictName(c.verdict)));
    if (c.verdict == PathVerdict::kRewritten) CHECK(out == c.out);
  }
}

TEST_CASE("NormalizePath: the normal form is a fixed point", "[router]") {
  const char* inputs[] = {"/a/../b/./c/%7e", "/%2e%2e/x/..", "/a//b/../c", "/x/%c3%a9/./", "/../a/b/../../.."};
  std::string once, twice;
  for (const char* in : inputs) {
    INFO(in);
    REQUIRE(NormalizePath(in, false, once).verdict == PathVerdict::kRewritten);
    CHECK(NormalizePath(once, false, twice).verdict == PathVerdict::kSame);
  }
}

TEST_CASE("ValidHost and SameAuthority", "[router]") {
  CHECK(ValidHost(""));
  CHECK(ValidHost("app.localhost"));
  CHECK(ValidHost("app.localhost:8080"));
  CHECK(ValidHost("[fe80::1]:443"));
  CHECK_FALSE(ValidHost("app.localhost:80@evil"));
  CHECK_FALSE(ValidHost("app.localhost:0x50"));
  CHECK_FALSE(ValidHost("app.localhost:123456"));
  CHECK_FALSE(ValidHost("[fe80::1%25eth0]"));
  CHECK_FALSE(ValidHost("a b"));

  std::string_view scheme, authority;
  REQUIRE(SplitAbsolute("http://a.example:81/x?y", scheme, authority));
  CHECK(scheme == "http");
  CHECK(authority == "a.example:81");
  REQUIRE(SplitAbsolute("https://a.example?y", scheme, authority));
  CHECK(authority == "a.example");
  CHECK_FALSE(SplitAbsolute("/x", scheme, authority));

  CHECK(SameAuthority("http", "a.example", "A.EXAMPLE:80"));
  CHECK(SameAuthority("https", "a.example:443", "a.example."));
  CHECK_FALSE(SameAuthority("https", "a.example", "a.example:80"));
  CHECK_FALSE(SameAuthority("http", "a.example", "b.example"));
  CHECK_FALSE(SameAuthority("http", "", ""));
  CHECK_FALSE(SameAuthority("ws", "a.example", "a.example"));
  CHECK_FALSE(SameAuthority("http", "u@a.example", "a.example"));
}

TEST_CASE("NormalizePath: '.' and '..' segments with ;parameters are refused", "[router]") {
  // Tomcat, Jetty and Spring strip ";params" from a segment before dot
  // removal: "/shop/..;/admin" is /admin to them, but a "/shop/" route here.
  struct Case {
    const char* in;
    PathVerdict verdict;
  } cases[] = {
      {"/shop/..;/admin", PathVerdict::kRefused},
      {"/shop/..;jsessionid=1/admin", PathVerdict::kRefused},
      {"/shop/.;/admin", PathVerdict::kRefused},
      {"/shop/%2e%2e;/admin", PathVerdict::kRefused},
      {"/shop/.%2E;x/admin", PathVerdict::kRefused},
      {"/shop/%2e;/admin", PathVerdict::kRefused},
      {"/..;", PathVerdict::kRefused},
      {"/shop/..;", PathVerdict::kRefused},
      // Ordinary ';' elsewhere is data.
      {"/shop;v=1/cart", PathVerdict::kSame},
      {"/shop/cart;jsessionid=1", PathVerdict::kSame},
      {"/shop/a..;/b", PathVerdict::kSame},
      {"/shop/...;/b", PathVerdict::kSame},
      {"/shop/.x;/b", PathVerdict::kSame},
      {"/shop/..%3B/admin", PathVerdict::kSame},  // an encoded ';' is no parameter delimiter
      {"/shop/;/admin", PathVerdict::kSame},
  };
  for (bool unescape : {false, true}) {
    std::string out;
    for (const auto& c : cases) {
      INFO(c.in << " unescape=" << unescape);
      PathResult res = NormalizePath(c.in, unescape, out);
      CHECK(VerdictName(res.verdict) == std::string_view(VerdictName(c.verdict)));
      if (c.verdict == PathVerdict::kRefused)
        CHECK(std::string_view(res.reason) == "dot segment with ;parameters in path");
    }
  }
  CHECK_FALSE(skyport::uri::ValidatePathPrefix("p", "/shop/..;/").ok());
}
