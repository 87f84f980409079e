#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "drone/data_dir.h"
#include "test_util.h"

using namespace skyport;
using namespace skyport::drone;
namespace fs = std::filesystem;

TEST_CASE("data dir: the saved lease round-trips; anything else reads as none", "[drone]") {
  testing::TempDir dir;
  CHECK(ReadSavedLease(dir.path()) == 0);  // no file
  REQUIRE(SaveLease(dir.path(), 1234).ok());
  CHECK(ReadSavedLease(dir.path()) == 1234);
  REQUIRE(SaveLease(dir.path(), 0).ok());
  CHECK(ReadSavedLease(dir.path()) == 0);
  for (const char* text : {"", "not json", "[1]", "{}", R"({"lease":"7"})", R"({"lease":-1})", R"({"lease":null})"}) {
    INFO(text);
    std::ofstream(dir.path() + "/drone.json", std::ios::trunc) << text;
    CHECK(ReadSavedLease(dir.path()) == 0);
  }
}

TEST_CASE("data dir: the layout is made and half-made checkouts are removed", "[drone]") {
  testing::TempDir dir;
  fs::create_directories(dir.path() + "/deploy/webapp/.tmp-abc-1");
  fs::create_directories(dir.path() + "/deploy/webapp/abc");
  REQUIRE(PrepareDataDir(dir.path(), std::nullopt, nullptr).ok());
  CHECK(fs::is_directory(dir.path() + "/repos"));
  CHECK_FALSE(fs::exists(dir.path() + "/deploy/webapp/.tmp-abc-1"));
  CHECK(fs::is_directory(dir.path() + "/deploy/webapp/abc"));
  CHECK(DeployDir(dir.path(), "webapp", "abc") == dir.path() + "/deploy/webapp/abc");
  CHECK(RepoDir(dir.path(), "webapp") == dir.path() + "/repos/webapp.git");
}
