#include <catch2/catch.hpp>

#include "core/files.h"
#include "drone/app_uids.h"
#include "test_util.h"

namespace skyport::drone {
namespace {

TEST_CASE("ParseUidRange: LO-HI within bounds, never nobody", "[drone]") {
  auto r = ParseUidRange("30000-39999");
  REQUIRE(r.ok());
  CHECK(r->lo == 30000u);
  CHECK(r->hi == 39999u);
  CHECK(ParseUidRange("5-5").ok());
  for (const char* bad : {"", "30000", "0-10", "10-5", "1-70000", "65000-66000", "a-b", "1-2x", "-5", "10-"})
    CHECK_FALSE(ParseUidRange(bad).ok());
}

TEST_CASE("PickUid: an app keeps its uid; new ones take the lowest free, skipping the machine's users", "[drone]") {
  const UidRange range{100, 104};
  auto none = [](uid_t) { return false; };
  std::map<std::string, uid_t> assigned = {{"webapp", 100}, {"api", 102}};
  CHECK(*PickUid(assigned, "webapp", range, none) == 100u);
  CHECK(*PickUid(assigned, "evil", range, none) == 101u);
  CHECK(*PickUid(assigned, "evil", range, [](uid_t u) { return u == 101; }) == 103u);  // 101 is a user's
  assigned["a"] = 101;
  assigned["b"] = 103;
  assigned["c"] = 104;
  auto full = PickUid(assigned, "evil", range, none);
  CHECK(full.status().code() == Code::kResourceExhausted);
  // An app assigned under an older range keeps its uid.
  CHECK(*PickUid({{"old", 50}}, "old", range, none) == 50u);
}

TEST_CASE("AppUids: assignments survive a reopen; each app its own uid and group, no others", "[drone]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/app-uids.json";
  const UidRange range{4000000000u - 10, 4000000000u - 1};  // far above any real user
  {
    auto uids = AppUids::Open(path, range);
    REQUIRE(uids.ok());
    auto a = (*uids)->For("webapp");
    auto b = (*uids)->For("evil");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->uid != b->uid);
    CHECK(a->gid == a->uid);
    CHECK(a->groups.empty());
    CHECK(a->name == "app:webapp");
  }
  auto again = AppUids::Open(path, range);
  REQUIRE(again.ok());
  CHECK((*again)->For("webapp")->uid == range.lo);
  CHECK((*again)->For("evil")->uid == range.lo + 1);
  REQUIRE(WriteFileAtomic(path, "[1,2]").ok());
  CHECK_FALSE(AppUids::Open(path, range).ok());
}

}  // namespace
}  // namespace skyport::drone
