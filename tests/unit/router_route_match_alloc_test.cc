// RouteTable::Match and DecideRequest run for every request: they must not allocate. Counted
// with a replacement of the global operator new that counts only while armed
// on this thread (every other test allocates as usual).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <new>
#include <memory>
#include <string>
#include <vector>

#include "core/ids.h"
#include "router/arm_choice.h"
#include "router/route_table.h"

namespace {
thread_local bool g_armed = false;
thread_local size_t g_news = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (g_armed) ++g_news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// GCC 12 takes these replacements' free() for a mismatch with operator new.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace skyport::router {
namespace {

struct CountNews {
  CountNews() {
    g_news = 0;
    g_armed = true;
  }
  ~CountNews() { g_armed = false; }
  size_t count() const { return g_news; }
};

TEST_CASE("RouteTable::Match does not allocate (long hosts, mixed case, ports, prefixes)", "[router]") {
  RouteTable t;
  for (const char* name : {"shop", "api", "web"}) {
    auto app = std::make_shared<AppRoute>();
    app->name = name;
    t.apps.push_back(std::move(app));
  }
  t.by_host.emplace("shop.a-rather-long-host-name.example.com", 0);  // beyond the short-string buffer
  t.by_prefix.emplace_back("/api/", 1);
  t.default_app = 2;

  const AppRoute* hits[5] = {};
  size_t news = 0;
  {
    CountNews counter;
    hits[0] = t.Match("Shop.A-Rather-Long-Host-Name.EXAMPLE.com.", "/x");
    hits[1] = t.Match("shop.a-rather-long-host-name.example.com:8443", "/x");
    hits[2] = t.Match("unknown.example-with-a-long-name.com", "/api/v1");
    hits[3] = t.Match("", "/");
    hits[4] = t.Match("[fe80::1]:80", "/");
    news = counter.count();
  }
  CHECK(news == 0);
  REQUIRE(hits[0] != nullptr);
  CHECK(hits[0]->name == "shop");
  REQUIRE(hits[1] != nullptr);
  CHECK(hits[1]->name == "shop");
  REQUIRE(hits[2] != nullptr);
  CHECK(hits[2]->name == "api");
  CHECK(hits[3]->name == "web");
  CHECK(hits[4]->name == "web");

  // Hosts longer than the stack buffer still match as before (the slow way).
  const std::string long_host(300, 'h');
  t.by_host.emplace(long_host, 1);
  CHECK(t.Match(std::string(300, 'H') + ".", "/")->name == "api");
}

TEST_CASE("DecideRequest does not allocate (signed cookie, fresh user, flight, override)", "[router]") {
  auto table = LoadStaticRoutes(R"({"apps": [
    {"name": "web", "hosts": ["web.example"], "split_id": "s1", "allow_override": true, "arms": [
      {"commit": "aaaa1111", "weight": 50, "upstreams": ["127.0.0.1:9001"]},
      {"commit": "bbbb2222", "weight": 50, "upstreams": ["127.0.0.1:9002"]}]},
    {"name": "exp", "hosts": ["exp.example"], "arms": [
      {"commit": "a", "weight": 50, "upstreams": ["127.0.0.1:9101"]},
      {"commit": "c", "upstreams": ["127.0.0.1:9103"]}],
     "flight": {"name": "exp", "id": "exp.1", "control": "c", "filter": {"headers": {"x-team": "red"}}, "rangeLt": 1000000}}]})",
                                1, TableOptions{}, nullptr);
  REQUIRE(table.ok());
  CookieKey key("current-secret");
  const std::string cookie = SignedCookie(key, "0123456789abcdef0123456789abcdef", "s1");
  const std::string raws[] = {
      "GET / HTTP/1.1\r\nHost: web.example\r\nCookie: a=b; skyport=" + cookie + "\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: web.example\r\nX-Skyport-Commit: bbbb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: exp.example\r\nX-Team: red\r\n\r\n",
      "CONNECT web.example:443 HTTP/1.1\r\nHost: web.example:443\r\n\r\n",
  };
  std::vector<std::unique_ptr<http1::RequestHead>> heads;
  for (const std::string& raw : raws) {
    heads.push_back(std::make_unique<http1::RequestHead>());
    http1::ParseError err;
    REQUIRE(http1::ParseRequest(raw, 64 * 1024, *heads.back(), err) == http1::Parse::kDone);
  }
  FakeRandom rng;
  const CookieKeys keys{&key, nullptr, false};
  RequestDecision d[4];
  size_t news = 0;
  {
    CountNews counter;
    for (size_t i = 0; i < 4; ++i) d[i] = DecideRequest(table->get(), *heads[i], "skyport", keys, 1000, rng);
    news = counter.count();
  }
  CHECK(news == 0);
  CHECK(d[0].user.cookie_user == "0123456789abcdef0123456789abcdef");
  REQUIRE(d[1].arm != nullptr);
  CHECK(d[1].arm->commit == "bbbb2222");
  CHECK(d[2].flight == "exp.1");
  CHECK(d[3].refusal == Refusal::kConnect);
}

}  // namespace
}  // namespace skyport::router
