#include "hub/git/repo_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "core/names.h"
#include "hub/git/git_util.h"

namespace skyport::hub {
namespace {

namespace fs = std::filesystem;

class DiskRepoStore final : public RepoStore {
 public:
  explicit DiskRepoStore(std::string dir) : dir_(std::move(dir)) {}

  Result<std::string> Resolve(const std::string& app, const std::string& commitish) override;
  Status PackCommit(const std::string& app, const std::string& commit,
                    const std::function<bool(std::string_view)>& sink, size_t chunk_bytes) override;
  std::vector<std::string> Apps() override;
  std::string RepoPath(const std::string& app) const override { return dir_ + "/" + app + ".git"; }
  std::mutex& WriteLock(const std::string& app) override;
  std::string IncomingDir() const override { return dir_ + "/.incoming"; }
  Status Remove(const std::string& app) override;

 private:
  Result<GitPtr<git_repository>> OpenApp(const std::string& app);

  const std::string dir_;
  std::mutex locks_mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> locks_;  // GUARDED_BY(locks_mu_); never shrinks
};

Result<GitPtr<git_repository>> DiskRepoStore::OpenApp(const std::string& app) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  auto repo = OpenBare(RepoPath(app));
  if (!repo.ok() && repo.status().code() == Code::kNotFound) {
    return Status::NotFound(fmt::format("app \"{}\" has no repository (push to it first)", app));
  }
  return repo;
}

// Peels whatever `obj` is (tag, commit) to a commit id; NOT_FOUND for trees and blobs.
Result<std::string> PeelToCommit(git_object* obj, const std::string& what) {
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) != 0) {
    return Status::NotFound(fmt::format("\"{}\" does not name a commit", what));
  }
  GitPtr<git_object> owned(peeled);
  return OidHex(*git_object_id(peeled));
}

Result<std::string> DiskRepoStore::Resolve(const std::string& app, const std::string& commitish) {
  auto repo = OpenApp(app);
  if (!repo.ok()) return repo.status();
  if (commitish.empty()) return Status::InvalidArgument("commit: empty");
  bool hex = IsHex(commitish);
  git_object* obj = nullptr;

  // A full id wins outright; otherwise refs come before abbreviated ids, like git rev-parse.
  if (hex && commitish.size() == GIT_OID_HEXSZ) {
    git_oid oid;
    if (!ParseOid(commitish, &oid) || git_object_lookup(&obj, repo->get(), &oid, GIT_OBJECT_ANY) != 0) {
      return Status::NotFound(fmt::format("commit {} not found in {}", commitish, app));
    }
    GitPtr<git_object> owned(obj);
    return PeelToCommit(obj, commitish);
  }
  std::vector<std::string> candidates;
  if (commitish.rfind("refs/", 0) == 0) {
    candidates = {commitish};
  } else {
    candidates = {"refs/heads/" + commitish, "refs/tags/" + commitish};
  }
  for (const std::string& name : candidates) {
    int valid = 0;
    if (git_reference_name_is_valid(&valid, name.c_str()) != 0 || !valid) {
      return Status::InvalidArgument(fmt::format("commit: \"{}\" is neither an id nor a valid ref name", commitish));
    }
    git_reference* ref = nullptr;
    if (git_reference_lookup(&ref, repo->get(), name.c_str()) != 0) continue;
    GitPtr<git_reference> owned_ref(ref);
    if (git_reference_peel(&obj, ref, GIT_OBJECT_ANY) != 0) continue;  // dangling symbolic ref
    GitPtr<git_object> owned(obj);
    return PeelToCommit(obj, commitish);
  }
  if (hex && commitish.size() >= 4) {
    git_oid prefix;
    git_oid_fromstrn(&prefix, commitish.data(), commitish.size());
    int rc = git_object_lookup_prefix(&obj, repo->get(), &prefix, commitish.size(), GIT_OBJECT_ANY);
    if (rc == GIT_EAMBIGUOUS) {
      return Status::FailedPrecondition(fmt::format("commit prefix {} is ambiguous in {}; give more digits", commitish, app));
    }
    if (rc == 0) {
      GitPtr<git_object> owned(obj);
      return PeelToCommit(obj, commitish);
    }
  }
  return Status::NotFound(fmt::format("\"{}\" is not a branch, tag or commit of {}", commitish, app));
}

// Batches packbuilder output into sink-sized chunks.
struct PackSinkState {
  const std::function<bool(std::string_view)>* sink;
  size_t chunk_bytes;
  std::string buf;
  bool stopped = false;
};

int PackChunk(void* data, size_t size, void* payload) {
  auto* st = static_cast<PackSinkState*>(payload);
  st->buf.append(static_cast<const char*>(data), size);
  if (st->buf.size() >= st->chunk_bytes) {
    if (!(*st->sink)(st->buf)) {
      st->stopped = true;
      return -1;
    }
    st->buf.clear();
  }
  return 0;
}

// Writes what `pb` holds to `sink`.
Status WritePack(git_packbuilder* pb, const std::function<bool(std::string_view)>& sink, size_t chunk_bytes,
                 const std::string& what) {
  PackSinkState st{&sink, std::max<size_t>(chunk_bytes, 1), {}, false};
  int rc = git_packbuilder_foreach(pb, PackChunk, &st);
  if (st.stopped) return Status(Code::kCancelled, "pack stream stopped by the receiver");
  if (rc != 0) return GitStatus(rc, "write pack of " + what);
  if (!st.buf.empty() && !sink(st.buf)) return Status(Code::kCancelled, "pack stream stopped by the receiver");
  return Status::Ok();
}

Status DiskRepoStore::PackCommit(const std::string& app, const std::string& commit,
                                 const std::function<bool(std::string_view)>& sink, size_t chunk_bytes) {
  auto id = Resolve(app, commit);
  if (!id.ok()) return id.status();
  auto repo = OpenApp(app);
  if (!repo.ok()) return repo.status();
  git_oid oid;
  ParseOid(*id, &oid);
  git_packbuilder* pb = nullptr;
  if (int rc = git_packbuilder_new(&pb, repo->get()); rc != 0) return GitStatus(rc, "packbuilder");
  GitPtr<git_packbuilder> owned(pb);
  git_packbuilder_set_threads(pb, 1);  // the caller's thread is the budget
  if (int rc = git_packbuilder_insert_commit(pb, &oid); rc != 0) return GitStatus(rc, "pack commit " + *id);
  return WritePack(pb, sink, chunk_bytes, *id);
}

std::vector<std::string> DiskRepoStore::Apps() {
  std::vector<std::string> apps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() <= 4 || name.substr(name.size() - 4) != ".git" || !e.is_directory(ec)) continue;
    std::string app = name.substr(0, name.size() - 4);
    if (ValidateName("app", app).ok()) apps.push_back(app);
  }
  std::sort(apps.begin(), apps.end());
  return apps;
}

Status DiskRepoStore::Remove(const std::string& app) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  std::lock_guard<std::mutex> write(WriteLock(app));
  std::error_code ec;
  if (!fs::is_directory(RepoPath(app), ec)) return Status::NotFound("no repository of " + app);
  fs::create_directories(IncomingDir(), ec);
  const std::string gone = fmt::format("{}/removed-{}-{}", IncomingDir(), app,
                                       std::chrono::steady_clock::now().time_since_epoch().count());
  fs::rename(RepoPath(app), gone, ec);
  if (ec) return Status::Internal(fmt::format("cannot remove the repository of {}: {}", app, ec.message()));
  fs::remove_all(gone, ec);  // a leftover in .incoming is harmless
  return Status::Ok();
}

std::mutex& DiskRepoStore::WriteLock(const std::string& app) {
  std::lock_guard<std::mutex> l(locks_mu_);
  auto& m = locks_[app];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

}  // namespace

Status PackReachable(RepoStore& store, const std::string& app, const std::vector<std::string>& wants,
                     const std::vector<std::string>& haves, const std::function<bool(std::string_view)>& sink,
                     size_t chunk_bytes) {
  if (Status s = ValidateName("app", app); !s.ok()) return s;
  auto repo = OpenBare(store.RepoPath(app));
  if (!repo.ok()) return repo.status();
  git_revwalk* walk_raw = nullptr;
  if (int rc = git_revwalk_new(&walk_raw, repo->get()); rc != 0) return GitStatus(rc, "revwalk");
  GitPtr<git_revwalk> walk(walk_raw);
  git_packbuilder* pb_raw = nullptr;
  if (int rc = git_packbuilder_new(&pb_raw, repo->get()); rc != 0) return GitStatus(rc, "packbuilder");
  GitPtr<git_packbuilder> pb(pb_raw);
  git_packbuilder_set_threads(pb.get(), 1);  // the caller's thread is the budget
  for (const std::string& want : wants) {
    git_oid oid;
    git_object* obj = nullptr;
    if (!ParseOid(want, &oid) || git_object_lookup(&obj, repo->get(), &oid, GIT_OBJECT_ANY) != 0)
      return Status::NotFound(fmt::format("{} has no object {}", app, want));
    GitPtr<git_object> owned(obj);
    // A commit's history comes from the walk; a tag, tree or blob goes in with what it references.
    if (git_object_type(obj) != GIT_OBJECT_COMMIT) {
      if (int rc = git_packbuilder_insert_recur(pb.get(), &oid, nullptr); rc != 0) return GitStatus(rc, "pack " + want);
    }
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0) {
      GitPtr<git_object> owned_peeled(peeled);
      if (int rc = git_revwalk_push(walk.get(), git_object_id(peeled)); rc != 0) return GitStatus(rc, "walk " + want);
    }
  }
  git_odb* odb_raw = nullptr;
  if (int rc = git_repository_odb(&odb_raw, repo->get()); rc != 0) return GitStatus(rc, "odb");
  GitPtr<git_odb> odb(odb_raw);
  for (const std::string& have : haves) {
    git_oid oid;
    git_object* obj = nullptr;
    if (!ParseOid(have, &oid) || git_odb_exists(odb.get(), &oid) != 1) continue;
    if (git_object_lookup(&obj, repo->get(), &oid, GIT_OBJECT_ANY) != 0) continue;
    GitPtr<git_object> owned(obj);
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) != 0) continue;
    GitPtr<git_object> owned_peeled(peeled);
    git_revwalk_hide(walk.get(), git_object_id(peeled));
  }
  if (int rc = git_packbuilder_insert_walk(pb.get(), walk.get()); rc != 0) return GitStatus(rc, "pack walk of " + app);
  return WritePack(pb.get(), sink, chunk_bytes, app);
}

Result<std::unique_ptr<RepoStore>> RepoStore::Open(const std::string& dir) {
  EnsureLibgit2();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    return Status::Unavailable(fmt::format("repo dir {}: {}", dir, ec ? ec.message() : "not a directory"));
  }
  // Leftover quarantines from a crash are garbage: nothing references them.
  fs::remove_all(dir + "/.incoming", ec);
  fs::create_directories(dir + "/.incoming", ec);
  return std::unique_ptr<RepoStore>(std::make_unique<DiskRepoStore>(dir));
}

}  // namespace skyport::hub
