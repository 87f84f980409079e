#include "drone/checkout.h"

#include <git2.h>

#include <filesystem>
#include <mutex>

#include <fmt/format.h>

namespace skyport::drone {
namespace {

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

Status GitError(std::string_view what) {
  const git_error* e = git_error_last();
  return Status::Internal(fmt::format("{}: {}", what, e ? e->message : "unknown libgit2 error"));
}

Result<git_repository*> OpenOrInit(const std::string& path) {
  InitOnce();
  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, path.c_str()) == 0) return repo;
  git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
  o.initial_head = "master";
  if (git_repository_init_ext(&repo, path.c_str(), &o) != 0) return GitError("init " + path);
  return repo;
}

class Writer final : public PackWriter {
 public:
  Writer(git_repository* repo, git_odb* odb, git_indexer* idx) : repo_(repo), odb_(odb), idx_(idx) {}
  ~Writer() override {
    git_indexer_free(idx_);
    git_odb_free(odb_);
    git_repository_free(repo_);
  }
  Status Append(std::string_view data) override {
    if (git_indexer_append(idx_, data.data(), data.size(), &stats_) != 0) return GitError("index pack");
    return Status::Ok();
  }
  Status Commit() override {
    if (git_indexer_commit(idx_, &stats_) != 0) return GitError("index pack");
    git_odb_refresh(odb_);
    return Status::Ok();
  }

 private:
  git_repository* repo_;
  git_odb* odb_;
  git_indexer* idx_;
  git_indexer_progress stats_{};
};

}  // namespace

Result<std::unique_ptr<PackWriter>> PackWriter::Begin(const std::string& repo_path) {
  auto repo = OpenOrInit(repo_path);
  if (!repo.ok()) return repo.status();
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, *repo) != 0) {
    git_repository_free(*repo);
    return GitError("open object database");
  }
  git_indexer_options o = GIT_INDEXER_OPTIONS_INIT;
  o.verify = 0;  // a one-commit pack lacks the parents by design
  git_indexer* idx = nullptr;
  std::string packdir = std::string(git_repository_path(*repo)) + "objects/pack";
  if (git_indexer_new(&idx, packdir.c_str(), 0, odb, &o) != 0) {
    git_odb_free(odb);
    git_repository_free(*repo);
    return GitError("start indexing");
  }
  return std::unique_ptr<PackWriter>(new Writer(*repo, odb, idx));
}

bool HasCommit(const std::string& repo_path, const std::string& commit) {
  InitOnce();
  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, repo_path.c_str()) != 0) return false;
  git_oid oid;
  git_commit* c = nullptr;
  bool ok = git_oid_fromstr(&oid, commit.c_str()) == 0 && git_commit_lookup(&c, repo, &oid) == 0;
  if (ok) {
    git_tree* tree = nullptr;
    ok = git_commit_tree(&tree, c) == 0;
    git_tree_free(tree);
  }
  git_commit_free(c);
  git_repository_free(repo);
  return ok;
}

Status CheckoutCommit(const std::string& repo_path, const std::string& commit, const std::string& dir) {
  InitOnce();
  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, repo_path.c_str()) != 0) return GitError("open " + repo_path);
  git_oid oid;
  git_commit* c = nullptr;
  Status result = Status::Ok();
  if (git_oid_fromstr(&oid, commit.c_str()) != 0 || git_commit_lookup(&c, repo, &oid) != 0) {
    result = Status::NotFound(fmt::format("commit {} is not in the drone's repository", commit));
  } else {
    git_checkout_options o = GIT_CHECKOUT_OPTIONS_INIT;
    o.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
    o.target_directory = dir.c_str();
    o.disable_filters = 1;
    if (git_checkout_tree(repo, reinterpret_cast<git_object*>(c), &o) != 0) result = GitError("checkout");
  }
  git_commit_free(c);
  git_repository_free(repo);
  return result;
}

}  // namespace skyport::drone
