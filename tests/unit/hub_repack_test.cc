#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "hub/git/repo_store.h"
#include "hub/ops/repack.h"
#include "hub/ops/repack_plan.h"
#include "hub_test_util.h"

namespace skyport::hub {
namespace {

using testing::Git;
using testing::Run;
using testing::TempDir;
using testing::Trim;

RepoActivity Repo(std::string app, uint32_t pushes, int64_t last_ms, uint32_t packs, bool loose = false) {
  return RepoActivity{std::move(app), pushes, last_ms, packs, loose};
}

TEST_CASE("DueRepacks: after N pushes, N packs, or the interval with something to merge", "[hub][repack]") {
  RepackPolicy p;
  p.interval_ms = 1000;
  p.after_pushes = 3;
  p.max_per_pass = 10;
  const int64_t now = 10'000;
  struct Case {
    RepoActivity repo;
    bool due;
  };
  const Case cases[] = {
      {Repo("quiet", 0, now, 1), false},            // one pack, just repacked
      {Repo("pushed", 3, now, 1), true},            // 3 pushes (a pack each, or thin packs)
      {Repo("two-pushes", 2, now, 2), false},       // below the count, interval not over
      {Repo("many-packs", 0, now, 3), true},        // a restart forgot the pushes; the packs tell
      {Repo("old-one-pack", 0, 0, 1), false},       // interval over, but nothing to merge
      {Repo("old-two-packs", 0, now - 1000, 2), true},
      {Repo("old-loose", 0, now - 1000, 1, true), true},
      {Repo("young-loose", 0, now - 999, 1, true), false},
  };
  for (const auto& c : cases) {
    INFO(c.repo.app);
    CHECK(RepackReason(c.repo, now, p).empty() == !c.due);
    CHECK((DueRepacks({c.repo}, now, p).size() == 1) == c.due);
  }
  p.after_pushes = 0;  // never by count
  CHECK(DueRepacks({Repo("pushed", 100, now, 1)}, now, p).empty());
  p.interval_ms = 0;   // never by time either
  CHECK(DueRepacks({Repo("old-two-packs", 0, 0, 2)}, now, p).empty());
}

TEST_CASE("DueRepacks: bounded per pass, the most packs first", "[hub][repack]") {
  RepackPolicy p;
  p.after_pushes = 2;
  p.max_per_pass = 2;
  auto due = DueRepacks({Repo("a", 2, 0, 2), Repo("b", 0, 0, 9), Repo("c", 5, 0, 5), Repo("d", 0, 0, 1)}, 0, p);
  CHECK(due == std::vector<std::string>{"b", "c"});
  CHECK(RepackReason(Repo("c", 5, 0, 5), 0, p) == "5 pushes since the last repack");
  CHECK(RepackReason(Repo("b", 0, 0, 9), 0, p) == "9 packs");
}

// Pushes `n` commits one by one, each changing a large file a little: every
// push lands as a pack of its own holding a whole copy of that file.
struct PushedRepo {
  TempDir tmp;
  std::unique_ptr<RepoStore> store;
  std::vector<std::string> commits;
  explicit PushedRepo(int n) {
    store = std::move(RepoStore::Open(tmp.path() + "/repos").value());
    const std::string work = tmp.path() + "/work";
    testing::MakeWorkRepo(tmp.path(), work);
    REQUIRE(Run(Git(tmp.path()) + "init -q --bare " + store->RepoPath("webapp")).exit == 0);
    // One pack per push, as the hub stores them (no unpacking into loose objects).
    REQUIRE(Run(Git(tmp.path(), store->RepoPath("webapp")) + "config receive.unpackLimit 1").exit == 0);
    std::string big;
    for (int i = 0; i < 20000; ++i) big += std::to_string(i * 7919 % 10007) + " line of a file that grows\n";
    for (int i = 0; i < n; ++i) {
      testing::WriteFile(work + "/big.txt", big + "change " + std::to_string(i) + "\n");
      Run(Git(tmp.path(), work) + "add -A && " + Git(tmp.path(), work) + "commit -q -m c" + std::to_string(i));
      commits.push_back(Trim(Run(Git(tmp.path(), work) + "rev-parse HEAD").out));
      REQUIRE(Run(Git(tmp.path(), work) + "push -q " + store->RepoPath("webapp") + " master").exit == 0);
    }
    // A dangling commit (a deleted branch's): it must survive the repack.
    Run(Git(tmp.path(), work) + "checkout -q -b gone && " + Git(tmp.path(), work) + "commit -q --allow-empty -m gone");
    commits.push_back(Trim(Run(Git(tmp.path(), work) + "rev-parse HEAD").out));
    REQUIRE(Run(Git(tmp.path(), work) + "push -q " + store->RepoPath("webapp") + " gone").exit == 0);
    REQUIRE(Run(Git(tmp.path(), store->RepoPath("webapp")) + "update-ref -d refs/heads/gone").exit == 0);
  }
};

TEST_CASE("RepackRepository: one pack, smaller, every object kept, old files retired later", "[hub][repack]") {
  PushedRepo r(4);
  const std::string path = r.store->RepoPath("webapp");
  const RepoShape before = InspectRepository(path);
  REQUIRE(before.packs >= 4);

  auto result = RepackRepository(*r.store, "webapp");
  REQUIRE(result.ok());
  CHECK(result->packs_before == before.packs);
  CHECK(result->bytes_before == before.bytes);
  CHECK(result->saved() > 0);
  CHECK(result->bytes_after < result->bytes_before);
  CHECK(!result->replaced.empty());
  // Until retired the old packs stay readable beside the new one.
  CHECK(InspectRepository(path).packs == before.packs + 1);
  const uint64_t freed = RetireFiles(*r.store, "webapp", result->replaced);
  CHECK(freed > 0);
  const RepoShape after = InspectRepository(path);
  CHECK(after.packs == 1);
  CHECK(after.bytes == result->bytes_after);
  // Every commit resolves (the dangling one too) and git agrees the repo is whole.
  for (const auto& c : r.commits) CHECK(r.store->Resolve("webapp", c).ok());
  CHECK(Run(Git(r.tmp.path(), path) + "fsck --no-dangling").exit == 0);
  CHECK(Run(Git(r.tmp.path(), path) + "cat-file -e " + r.commits.back()).exit == 0);

  // Nothing left to merge: left alone.
  auto again = RepackRepository(*r.store, "webapp");
  REQUIRE(again.ok());
  CHECK(again->replaced.empty());
  CHECK(InspectRepository(path).packs == 1);
}

TEST_CASE("RepackRepository waits for the app's write lock (a push in progress)", "[hub][repack]") {
  PushedRepo r(2);
  std::unique_lock held(r.store->WriteLock("webapp"));
  std::atomic<bool> done{false};
  std::thread t([&] {
    auto result = RepackRepository(*r.store, "webapp");
    CHECK(result.ok());
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(!done);  // blocked behind the "push"
  held.unlock();
  t.join();
  CHECK(done);
  CHECK(RepackRepository(*r.store, "no-such-app").ok());  // no repository: nothing to do
  CHECK(RepackRepository(*r.store, "../x").status().code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace skyport::hub
