#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/address_list.h"
#include "core/address_order.h"

namespace skyport {
namespace {

using Addrs = std::vector<std::string>;

TEST_CASE("ParseAddressList: good lists keep their order", "[core][address]") {
  struct Row {
    const char* text;
    Addrs want;
  };
  const Row rows[] = {
      {"127.0.0.1:6000", {"127.0.0.1:6000"}},
      {"a:1,b:2", {"a:1", "b:2"}},
      {" a:1 , b.example.com:65535 ", {"a:1", "b.example.com:65535"}},
      {"[::1]:6000,[fe80::1%]:1", {}},  // rejected below: '%' is not in an IPv6 literal we accept
      {"[::1]:6000,[2001:db8::7]:6001", {"[::1]:6000", "[2001:db8::7]:6001"}},
      {"my_host-1:80", {"my_host-1:80"}},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    auto got = ParseAddressList("--registry", r.text);
    if (r.want.empty()) {
      CHECK_FALSE(got.ok());
    } else {
      REQUIRE(got.ok());
      CHECK(*got == r.want);
      CHECK(JoinAddresses(*got) == JoinAddresses(r.want));
    }
  }
}

TEST_CASE("ParseAddressList: bad lists say what is wrong", "[core][address]") {
  struct Row {
    std::string text;
    const char* says;
  };
  const Row rows[] = {
      {"", "no address given"},
      {"  ", "no address given"},
      {"a:1,,b:2", "address 2 of the list is empty"},
      {"a:1,", "address 2 of the list is empty"},
      {",a:1", "address 1 of the list is empty"},
      {"a", "has no port"},
      {":6000", "has no host"},
      {"a:", "has a bad port"},
      {"a:0", "has a bad port"},
      {"a:65536", "has a bad port"},
      {"a:123456", "has a bad port"},
      {"a:6x", "has a bad port"},
      {"a:-1", "has a bad port"},
      {"::1:6000", "IPv6 goes in brackets"},
      {"[::1:6000", "bad IPv6 literal"},
      {"[]:6000", "bad IPv6 literal"},
      {"[zz::1]:6000", "bad IPv6 literal"},
      {"a b:1", "has a bad host"},
      {"a/b:1", "has a bad host"},
      {"a:1,a:1", "listed twice"},
      {std::string(300, 'h') + ":1", "longer than"},
  };
  for (const Row& r : rows) {
    INFO(r.text);
    auto got = ParseAddressList("--registry", r.text);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalidArgument);
    CHECK_THAT(got.status().message(), Catch::Contains("--registry") && Catch::Contains(r.says));
  }
}

TEST_CASE("ParseAddressList: the count is bounded", "[core][address]") {
  std::string text;
  for (size_t i = 1; i <= kMaxAddresses; ++i) text += (i > 1 ? "," : "") + ("h:" + std::to_string(i));
  auto ok = ParseAddressList("--hub", text);
  REQUIRE(ok.ok());
  CHECK(ok->size() == kMaxAddresses);
  auto too_many = ParseAddressList("--hub", text + ",h:999");
  REQUIRE_FALSE(too_many.ok());
  CHECK_THAT(too_many.status().message(), Catch::Contains("more than 16"));
}

TEST_CASE("AddressOrder: the operator's order until something happens", "[core][address]") {
  AddressOrder o({"a:1", "b:2", "c:3"});
  CHECK(o.Order(0) == Addrs{"a:1", "b:2", "c:3"});
  CHECK(o.last().empty());
}

TEST_CASE("AddressOrder: steps through answers, failures and time", "[core][address]") {
  // Each step: an event at `now` (answered / failed / nothing), then the order.
  enum Kind { kAnswer, kFail, kLook };
  struct Step {
    Kind kind;
    const char* address;
    int64_t now;
    Addrs want;
  };
  const Step steps[] = {
      {kFail, "a:1", 1000, {"b:2", "c:3", "a:1"}},         // a backs off 250 ms
      {kLook, "", 1249, {"b:2", "c:3", "a:1"}},
      {kLook, "", 1250, {"a:1", "b:2", "c:3"}},            // due again: the list's order
      {kAnswer, "c:3", 1300, {"c:3", "a:1", "b:2"}},       // the one that answered goes first
      {kFail, "c:3", 1400, {"a:1", "b:2", "c:3"}},         // and back when it fails
      {kFail, "a:1", 1400, {"b:2", "c:3", "a:1"}},         // a: 2nd failure, 500 ms (till 1900); c till 1650
      {kFail, "b:2", 1500, {"c:3", "b:2", "a:1"}},         // every one failed: soonest due first
      {kLook, "", 1650, {"c:3", "b:2", "a:1"}},            // c due (and was last): first
      {kAnswer, "b:2", 1700, {"b:2", "c:3", "a:1"}},
      {kLook, "", 1900, {"b:2", "a:1", "c:3"}},
  };
  AddressOrder o({"a:1", "b:2", "c:3"});
  int i = 0;
  for (const Step& s : steps) {
    INFO("step " << i++ << " at " << s.now);
    if (s.kind == kAnswer) o.Answered(s.address, s.now);
    if (s.kind == kFail) o.Failed(s.address, s.now);
    CHECK(o.Order(s.now) == s.want);
  }
}

TEST_CASE("AddressOrder: the backoff doubles up to its cap and an answer resets it", "[core][address]") {
  AddressOrder o({"a:1", "b:2"}, AddressBackoff{100, 1000});
  const int64_t due[] = {100, 200, 400, 800, 1000, 1000};
  int64_t now = 0;
  for (int64_t d : due) {
    INFO("failure " << o.failures("a:1") + 1);
    o.Failed("a:1", now);
    CHECK(o.Order(now + d - 1).front() == "b:2");
    CHECK(o.Order(now + d).front() == "a:1");
    now += d;
  }
  CHECK(o.failures("a:1") == 6);
  o.Answered("a:1", now);
  CHECK(o.failures("a:1") == 0);
  o.Failed("a:1", now);
  CHECK(o.Order(now + 99).front() == "b:2");
  CHECK(o.Order(now + 100).front() == "a:1");
}

TEST_CASE("AddressOrder: learnt addresses (a leader outside the list) are bounded", "[core][address]") {
  AddressOrder o({"a:1", "b:2"});
  o.Answered("leader:9", 10);
  CHECK(o.Order(10) == Addrs{"leader:9", "a:1", "b:2"});
  CHECK(o.last() == "leader:9");
  for (int i = 0; i < 10; ++i) o.Failed("x:" + std::to_string(i + 1), 20 + i);
  // The list is never dropped; learnt ones at most kMaxLearnt, oldest gone first.
  CHECK(o.size() == 2 + AddressOrder::kMaxLearnt);
  auto order = o.Order(0);
  CHECK(order.size() == o.size());
  CHECK(std::find(order.begin(), order.end(), "a:1") != order.end());
  CHECK(std::find(order.begin(), order.end(), "b:2") != order.end());
  CHECK(std::find(order.begin(), order.end(), "leader:9") == order.end());
  CHECK(o.last().empty());  // the evicted leader is no longer first
  CHECK(std::find(order.begin(), order.end(), "x:10") != order.end());
  CHECK(std::find(order.begin(), order.end(), "x:6") == order.end());
}

TEST_CASE("AddressOrder: every address exactly once, whatever happens", "[core][address]") {
  AddressOrder o({"a:1", "b:2", "c:3", "d:4"});
  const char* names[] = {"a:1", "b:2", "c:3", "d:4", "e:5"};
  uint32_t x = 12345;
  for (int64_t now = 0; now < 20'000; now += 37) {
    x = x * 1103515245u + 12345u;
    const char* a = names[(x >> 16) % 5];
    if ((x >> 8) % 3 == 0) o.Answered(a, now);
    else o.Failed(a, now);
    auto order = o.Order(now);
    INFO("at " << now);
    REQUIRE(order.size() == o.size());
    std::sort(order.begin(), order.end());
    REQUIRE(std::adjacent_find(order.begin(), order.end()) == order.end());
  }
}

}  // namespace
}  // namespace skyport
