// Bare git repositories, one per app, under DIR/<app>.git, served with
// libgit2. Thread-safe: each call opens what it needs; writes to one repo are
// serialized by a per-repo lock.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::hub {

class RepoStore {
 public:
  // Opens (creating if needed) the directory holding the repositories.
  static Result<std::unique_ptr<RepoStore>> Open(const std::string& dir);
  virtual ~RepoStore() = default;

  // Full 40-hex commit id for a commit-ish: full or abbreviated hash (unique
  // prefix of at least 4), a branch name ("master"), or a full ref
  // ("refs/heads/master"). NOT_FOUND for an unknown app or commit,
  // INVALID_ARGUMENT for a bad app name, FAILED_PRECONDITION for an
  // ambiguous prefix.
  virtual Result<std::string> Resolve(const std::string& app, const std::string& commitish) = 0;

  // Streams a packfile holding `commit` and its whole tree (not its parents)
  // to `sink` in chunks of about `chunk_bytes`. `sink` returns false to stop.
  virtual Status PackCommit(const std::string& app, const std::string& commit,
                            const std::function<bool(std::string_view)>& sink,
                            size_t chunk_bytes = 256 * 1024) = 0;

  // Apps that have a repository.
  virtual std::vector<std::string> Apps() = 0;
  // Path of an app's bare repository (it may not exist yet).
  virtual std::string RepoPath(const std::string& app) const = 0;

  // Held while an app's refs and packs change (a push, a future gc). The
  // mutex lives as long as the store.
  virtual std::mutex& WriteLock(const std::string& app) = 0;
  // Scratch space on the same filesystem as the repositories: pushes are
  // indexed here first and renamed in only once a ref update is accepted.
  virtual std::string IncomingDir() const = 0;

  // --- apps destroy --purge (issue 16): removes the app's repository (under
  // its write lock: renamed away first, so a concurrent reader sees it whole
  // or not at all). NOT_FOUND when there is none.
  virtual Status Remove(const std::string& app) = 0;
};

// Streams a packfile of every object reachable from `wants` (ids of commits,
// tags, trees or blobs the app's repository holds) and not from those of
// `haves` it holds (unknown haves are ignored), to `sink` in chunks of about
// `chunk_bytes`. What a hub that lacks some pushes fetches from another
// (hub/peer/). NOT_FOUND for an unknown app or want; CANCELLED when `sink`
// returned false.
Status PackReachable(RepoStore& store, const std::string& app, const std::vector<std::string>& wants,
                     const std::vector<std::string>& haves, const std::function<bool(std::string_view)>& sink,
                     size_t chunk_bytes = 256 * 1024);

}  // namespace skyport::hub
