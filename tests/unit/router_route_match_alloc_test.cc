// RouteTable::Match runs for every request: it must not allocate. Counted
// with a replacement of the global operator new that counts only while armed
// on this thread (every other test allocates as usual).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <new>
#include <string>

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
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

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
  t.apps.resize(3);
  t.apps[0].name = "shop";
  t.apps[1].name = "api";
  t.apps[2].name = "web";
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

}  // namespace
}  // namespace skyport::router
