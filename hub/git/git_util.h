// Small libgit2 helpers shared by the hub's git code: owning pointers,
// error-to-Status conversion, one-time library init, bare repo open/create.
#pragma once

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::hub {

struct GitFree {
  void operator()(git_repository* p) const { git_repository_free(p); }
  void operator()(git_odb* p) const { git_odb_free(p); }
  void operator()(git_object* p) const { git_object_free(p); }
  void operator()(git_commit* p) const { git_commit_free(p); }
  void operator()(git_reference* p) const { git_reference_free(p); }
  void operator()(git_reference_iterator* p) const { git_reference_iterator_free(p); }
  void operator()(git_indexer* p) const { git_indexer_free(p); }
  void operator()(git_packbuilder* p) const { git_packbuilder_free(p); }
  void operator()(git_tree* p) const { git_tree_free(p); }
  void operator()(git_revwalk* p) const { git_revwalk_free(p); }
};
template <class T>
using GitPtr = std::unique_ptr<T, GitFree>;

// git_libgit2_init exactly once per process (it is refcounted; we never shut down).
void EnsureLibgit2();

// "<what>: <libgit2's last error>" with a code chosen from `rc`
// (GIT_ENOTFOUND -> NOT_FOUND, GIT_EAMBIGUOUS -> FAILED_PRECONDITION, else INTERNAL).
Status GitStatus(int rc, std::string_view what);

std::string OidHex(const git_oid& oid);
bool ParseOid(std::string_view hex40, git_oid* out);

// NOT_FOUND if there is no repository at `path`.
Result<GitPtr<git_repository>> OpenBare(const std::string& path);
// Creates a bare repository with HEAD -> refs/heads/master (build notes, pitfall 10).
Result<GitPtr<git_repository>> CreateBare(const std::string& path);

}  // namespace skyport::hub
