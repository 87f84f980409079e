#include "hub/git/git_util.h"

#include <fmt/format.h>

#include <mutex>

namespace skyport::hub {

void EnsureLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

Status GitStatus(int rc, std::string_view what) {
  const git_error* e = git_error_last();
  std::string msg = fmt::format("{}: {}", what, e && e->message ? e->message : "libgit2 error");
  switch (rc) {
    case GIT_ENOTFOUND: return Status::NotFound(std::move(msg));
    case GIT_EAMBIGUOUS: return Status::FailedPrecondition(std::move(msg));
    case GIT_EINVALIDSPEC: return Status::InvalidArgument(std::move(msg));
    default: return Status::Internal(std::move(msg));
  }
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

bool ParseOid(std::string_view hex40, git_oid* out) {
  return hex40.size() == GIT_OID_HEXSZ && git_oid_fromstrn(out, hex40.data(), hex40.size()) == 0;
}

Result<GitPtr<git_repository>> OpenBare(const std::string& path) {
  EnsureLibgit2();
  git_repository* repo = nullptr;
  int rc = git_repository_open_bare(&repo, path.c_str());
  if (rc != 0) return GitStatus(rc == GIT_ENOTFOUND ? GIT_ENOTFOUND : rc, "open " + path);
  return GitPtr<git_repository>(repo);
}

Result<GitPtr<git_repository>> CreateBare(const std::string& path) {
  EnsureLibgit2();
  git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
  o.initial_head = "refs/heads/master";
  git_repository* repo = nullptr;
  int rc = git_repository_init_ext(&repo, path.c_str(), &o);
  if (rc != 0) return GitStatus(rc, "create " + path);
  return GitPtr<git_repository>(repo);
}

}  // namespace skyport::hub
