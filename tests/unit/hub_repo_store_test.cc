#include <catch2/catch.hpp>

#include <git2.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "hub/git/git_util.h"
#include "hub/git/repo_store.h"
#include "hub_test_util.h"

namespace skyport::hub {
namespace {

using testing::Git;
using testing::Run;
using testing::TempDir;
using testing::Trim;

struct StoreFixture {
  TempDir tmp;
  std::unique_ptr<RepoStore> store;
  std::string first, second;
  StoreFixture() {
    auto s = RepoStore::Open(tmp.path() + "/repos");
    REQUIRE(s.ok());
    store = std::move(*s);
    std::string work = tmp.path() + "/work";
    first = testing::MakeWorkRepo(tmp.path(), work);
    testing::WriteFile(work + "/app.txt", "hello again\n");
    Run(Git(tmp.path(), work) + "commit -q -am second");
    second = Trim(Run(Git(tmp.path(), work) + "rev-parse HEAD").out);
    Run(Git(tmp.path(), work) + "tag -a v1 -m release " + first);
    REQUIRE(Run(Git(tmp.path()) + "init -q --bare " + store->RepoPath("webapp")).exit == 0);
    REQUIRE(Run(Git(tmp.path(), work) + "push -q " + store->RepoPath("webapp") + " master master:refs/heads/dev v1").exit == 0);
  }
};

TEST_CASE("RepoStore Resolve: ids, branches, refs, tags and errors", "[hub][repo-store]") {
  StoreFixture f;
  RepoStore& s = *f.store;
  CHECK(s.Resolve("webapp", f.second).value() == f.second);
  CHECK(s.Resolve("webapp", f.first).value() == f.first);
  CHECK(s.Resolve("webapp", f.first.substr(0, 7)).value() == f.first);
  CHECK(s.Resolve("webapp", "master").value() == f.second);
  CHECK(s.Resolve("webapp", "refs/heads/dev").value() == f.second);
  CHECK(s.Resolve("webapp", "v1").value() == f.first);  // annotated tag peels to its commit

  CHECK(s.Resolve("webapp", "nope").status().code() == Code::kNotFound);
  CHECK(s.Resolve("webapp", std::string(40, 'e')).status().code() == Code::kNotFound);
  CHECK(s.Resolve("webapp", "deadbeef").status().code() == Code::kNotFound);
  CHECK(s.Resolve("missing", "master").status().code() == Code::kNotFound);
  CHECK(s.Resolve("Web", "master").status().code() == Code::kInvalidArgument);
  CHECK(s.Resolve("../x", "master").status().code() == Code::kInvalidArgument);
  CHECK(s.Resolve("webapp", "").status().code() == Code::kInvalidArgument);
  CHECK(s.Resolve("webapp", "a..b").status().code() == Code::kInvalidArgument);
  // A tree id is not a commit.
  std::string tree = Trim(Run(Git(f.tmp.path(), s.RepoPath("webapp")) + "rev-parse master^{tree}").out);
  CHECK(s.Resolve("webapp", tree).status().code() == Code::kNotFound);
}

TEST_CASE("RepoStore Resolve: an ambiguous prefix is FAILED_PRECONDITION", "[hub][repo-store]") {
  StoreFixture f;
  // Write blobs until two ids share their first 4 hex digits (birthday bound: a few hundred).
  GitPtr<git_repository> repo = std::move(OpenBare(f.store->RepoPath("webapp")).value());
  git_odb* odb_raw = nullptr;
  REQUIRE(git_repository_odb(&odb_raw, repo.get()) == 0);
  GitPtr<git_odb> odb(odb_raw);
  std::map<std::string, std::string> seen;
  std::string prefix;
  for (int i = 0; i < 100000 && prefix.empty(); ++i) {
    std::string data = "blob " + std::to_string(i);
    git_oid id;
    REQUIRE(git_odb_write(&id, odb.get(), data.data(), data.size(), GIT_OBJECT_BLOB) == 0);
    std::string p = OidHex(id).substr(0, 4);
    if (!seen.emplace(p, OidHex(id)).second) prefix = p;
  }
  REQUIRE(!prefix.empty());
  CHECK(f.store->Resolve("webapp", prefix).status().code() == Code::kFailedPrecondition);
}

TEST_CASE("RepoStore PackCommit: the pack indexes into a fresh repo and checks out", "[hub][repo-store]") {
  StoreFixture f;
  std::string pack;
  int chunks = 0;
  Status st = f.store->PackCommit("webapp", f.second, [&](std::string_view c) {
    pack.append(c);
    ++chunks;
    return true;
  }, 100);
  REQUIRE(st.ok());
  CHECK(chunks > 1);
  CHECK(pack.substr(0, 4) == "PACK");

  std::string dest = f.tmp.path() + "/drone.git";
  GitPtr<git_repository> repo = std::move(CreateBare(dest).value());
  git_odb* odb_raw = nullptr;
  REQUIRE(git_repository_odb(&odb_raw, repo.get()) == 0);
  GitPtr<git_odb> odb(odb_raw);
  git_indexer_options o = GIT_INDEXER_OPTIONS_INIT;
  o.verify = 0;  // the parent is deliberately absent (build notes, pitfall 9)
  git_indexer* idx_raw = nullptr;
  REQUIRE(git_indexer_new(&idx_raw, (dest + "/objects/pack").c_str(), 0, odb.get(), &o) == 0);
  GitPtr<git_indexer> idx(idx_raw);
  git_indexer_progress stats{};
  REQUIRE(git_indexer_append(idx.get(), pack.data(), pack.size(), &stats) == 0);
  REQUIRE(git_indexer_commit(idx.get(), &stats) == 0);
  CHECK(stats.total_objects == 6);  // commit, root tree, a, a/b, app.txt, c.txt
  REQUIRE(git_odb_refresh(odb.get()) == 0);

  git_oid oid;
  REQUIRE(ParseOid(f.second, &oid));
  git_commit* commit_raw = nullptr;
  REQUIRE(git_commit_lookup(&commit_raw, repo.get(), &oid) == 0);
  GitPtr<git_commit> commit(commit_raw);
  std::string out = f.tmp.path() + "/checkout";
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
  co.target_directory = out.c_str();
  co.disable_filters = 1;
  REQUIRE(git_checkout_tree(repo.get(), reinterpret_cast<git_object*>(commit.get()), &co) == 0);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  CHECK(slurp(out + "/app.txt") == "hello again\n");
  CHECK(slurp(out + "/a/b/c.txt") == "nested\n");
}

TEST_CASE("RepoStore PackCommit: errors and a sink that stops", "[hub][repo-store]") {
  StoreFixture f;
  auto keep = [](std::string_view) { return true; };
  CHECK(f.store->PackCommit("webapp", std::string(40, 'e'), keep).code() == Code::kNotFound);
  CHECK(f.store->PackCommit("Nope", "master", keep).code() == Code::kInvalidArgument);
  CHECK(f.store->PackCommit("webapp", "master", [](std::string_view) { return false; }, 10).code() ==
        Code::kCancelled);
}

TEST_CASE("RepoStore Apps and RepoPath", "[hub][repo-store]") {
  StoreFixture f;
  std::filesystem::create_directories(f.tmp.path() + "/repos/Bad.git");
  std::filesystem::create_directories(f.tmp.path() + "/repos/notarepo");
  Run(Git(f.tmp.path()) + "init -q --bare " + f.store->RepoPath("api"));
  CHECK(f.store->Apps() == std::vector<std::string>{"api", "webapp"});
  CHECK(f.store->RepoPath("x") == f.tmp.path() + "/repos/x.git");
}

}  // namespace
}  // namespace skyport::hub
