#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/children.h"
#include "core/files.h"
#include "tests/unit/test_util.h"

namespace skyport {
namespace {

using testing::TempDir;

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("WriteFileAtomic then ReadFile returns the bytes written", "[core][files]") {
  TempDir dir;
  const std::string path = dir.path() + "/state.json";
  const std::string rows[] = {
      "",
      "x",
      "{\"a\": 1}\n",
      std::string("with\0nul\0bytes", 14),
      std::string(1 << 20, 'z'),  // bigger than one write() might take
      "\xff\xfe binary \r\n",
  };
  for (const std::string& data : rows) {
    INFO("size " << data.size());
    REQUIRE(WriteFileAtomic(path, data).ok());
    auto got = ReadFile(path);
    REQUIRE(got.ok());
    CHECK(*got == data);
    CHECK(Listing(dir.path()) == std::vector<std::string>{"state.json"});  // no .tmp left behind
  }
}

TEST_CASE("WriteFileAtomic replaces longer contents completely", "[core][files]") {
  TempDir dir;
  const std::string path = dir.path() + "/f";
  REQUIRE(WriteFileAtomic(path, std::string(10000, 'a')).ok());
  REQUIRE(WriteFileAtomic(path, "short").ok());
  auto got = ReadFile(path);
  REQUIRE(got.ok());
  CHECK(*got == "short");
  CHECK(std::filesystem::file_size(path) == 5);
  CHECK(Listing(dir.path()) == std::vector<std::string>{"f"});
}

TEST_CASE("WriteFileAtomic replaces a file another reader still has open", "[core][files]") {
  TempDir dir;
  const std::string path = dir.path() + "/f";
  REQUIRE(WriteFileAtomic(path, "old").ok());
  std::ifstream held(path);  // an open reader keeps seeing the old inode
  REQUIRE(WriteFileAtomic(path, "new").ok());
  std::string seen;
  held >> seen;
  CHECK(seen == "old");
  CHECK(*ReadFile(path) == "new");
}

TEST_CASE("WriteFileAtomic overwrites a stale .tmp from a crash", "[core][files]") {
  TempDir dir;
  const std::string path = dir.path() + "/f";
  std::ofstream(path + ".tmp") << "half-written garbage from before the crash, longer than the new data";
  REQUIRE(WriteFileAtomic(path, "good").ok());
  CHECK(*ReadFile(path) == "good");
  CHECK(Listing(dir.path()) == std::vector<std::string>{"f"});
}

TEST_CASE("WriteFileAtomic: relative paths work", "[core][files]") {
  TempDir dir;
  auto old = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Status s = WriteFileAtomic("rel.txt", "here");
  std::filesystem::current_path(old);
  REQUIRE(s.ok());
  CHECK(*ReadFile(dir.path() + "/rel.txt") == "here");
}

TEST_CASE("WriteFileAtomic: failures are errors and leave no .tmp", "[core][files]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/adir/inside");
  struct Row {
    const char* name;
    std::string path;
  };
  const Row rows[] = {
      {"parent directory missing", dir.path() + "/missing/f"},
      {"target is a non-empty directory", dir.path() + "/adir"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    Status s = WriteFileAtomic(r.path, "data");
    CHECK_FALSE(s.ok());
    CHECK_FALSE(s.message().empty());
    CHECK_FALSE(std::filesystem::exists(r.path + ".tmp"));
  }
  CHECK(Listing(dir.path()) == std::vector<std::string>{"adir"});
  CHECK(std::filesystem::is_directory(dir.path() + "/adir/inside"));
}

TEST_CASE("ReadFile: a missing file is NOT_FOUND", "[core][files]") {
  TempDir dir;
  const std::string rows[] = {dir.path() + "/nope", dir.path() + "/no/such/dir/file", ""};
  for (const std::string& path : rows) {
    INFO(path);
    auto got = ReadFile(path);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kNotFound);
  }
}

TEST_CASE("children: Claim, Release, IsClaimed", "[core][children]") {
  // Pids far above pid_max so real children of this process never collide.
  const pid_t a = 0x7ffff001, b = 0x7ffff002, c = 0x7ffff003;
  CHECK_FALSE(children::IsClaimed(a));
  children::Claim(a);
  CHECK(children::IsClaimed(a));
  CHECK_FALSE(children::IsClaimed(b));
  children::Claim(b);
  children::Claim(b);  // claiming twice is harmless
  CHECK(children::IsClaimed(b));
  children::Release(a);
  CHECK_FALSE(children::IsClaimed(a));
  CHECK(children::IsClaimed(b));
  children::Release(c);  // never claimed: no-op
  CHECK_FALSE(children::IsClaimed(c));
  children::Release(b);
  CHECK_FALSE(children::IsClaimed(b));
  children::Release(b);
  CHECK_FALSE(children::IsClaimed(b));
}

TEST_CASE("children: safe from several threads", "[core][children]") {
  constexpr int kThreads = 8, kPerThread = 500;
  const pid_t base = 0x7fff0000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([=] {
      for (int i = 0; i < kPerThread; ++i) {
        pid_t pid = base + t * kPerThread + i;
        children::Claim(pid);
        (void)children::IsClaimed(pid);
        if (i % 2 == 0) children::Release(pid);
      }
    });
  for (auto& th : threads) th.join();
  int claimed = 0;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kPerThread; ++i) {
      pid_t pid = base + t * kPerThread + i;
      if (children::IsClaimed(pid)) ++claimed;
      children::Release(pid);
    }
  CHECK(claimed == kThreads * kPerThread / 2);
}

}  // namespace
}  // namespace skyport
