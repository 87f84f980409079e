// Repacking the hub's repositories (git's `repack -a -d` with libgit2, the
// code path the hub already serves git with). Every object of the
// repository goes into one new pack — reachable or not: a commit deployed
// from a deleted branch must stay fetchable — and the packs and loose objects
// it replaces are deleted once no read can still be opening them.
//
// RepackJanitor runs RepackPolicy (repack_plan.h) on its own thread: every
// `check_interval_ms`, and at once when a push makes an app due. A repack
// holds the app's write lock (RepoStore::WriteLock), as a push and a
// replicated push do, so it never races one. Counted in /metrics and logged
// with the bytes saved.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "hub/git/repo_store.h"
#include "hub/ops/repack_plan.h"

namespace skyport::hub {

// What a repository's objects/ holds.
struct RepoShape {
  uint32_t packs = 0;
  uint64_t loose_objects = 0;
  uint64_t bytes = 0;  // packs, their indexes and loose objects
};
RepoShape InspectRepository(const std::string& repo_path);

struct RepackResult {
  uint32_t packs_before = 0;
  uint64_t loose_before = 0;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;  // the new pack and index (with the packs kept by a .keep)
  uint64_t objects = 0;
  // Files the new pack replaced: the caller deletes them (RetireFiles) once
  // reads that listed them before the repack are over.
  std::vector<std::string> replaced;
  int64_t saved() const { return static_cast<int64_t>(bytes_before) - static_cast<int64_t>(bytes_after); }
};

// Repacks `app` under its write lock. Nothing changes on an error (a half
// written pack is removed); a repository that is one pack already and has no
// loose objects is left alone (result with packs_before <= 1, nothing replaced).
Result<RepackResult> RepackRepository(RepoStore& store, const std::string& app);

// Deletes `files` under `app`'s write lock (pack files' index first, so no
// reader takes a pack without its data); empty directories of loose objects
// go too. Returns the bytes freed.
uint64_t RetireFiles(RepoStore& store, const std::string& app, const std::vector<std::string>& files);

struct RepackJanitorOptions {
  RepackPolicy policy;
  int64_t check_interval_ms = 60'000;
  // Replaced files stay this long after a repack (reads that opened the
  // repository before it may still open its old packs).
  int64_t retire_after_ms = 30'000;
};

class RepackJanitor {
 public:
  RepackJanitor(RepoStore* store, RepackJanitorOptions o, const Clock* clock);
  ~RepackJanitor();  // stops the thread (a repack in progress finishes first)
  RepackJanitor(const RepackJanitor&) = delete;
  RepackJanitor& operator=(const RepackJanitor&) = delete;

  // An accepted push into `app` (the git listener's on_push).
  void NotePush(const std::string& app);
  std::string MetricsText() const;

 private:
  void Loop();
  void Pass();

  RepoStore* store_;
  const RepackJanitorOptions o_;
  const Clock* clock_;
  const int64_t started_ms_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                // guarded by mu_
  bool wake_ = false;                                // guarded by mu_
  std::map<std::string, uint32_t> pushes_;           // guarded by mu_: since the last repack
  std::map<std::string, int64_t> last_repack_ms_;    // owner thread only
  struct Retired {
    std::string app;
    std::vector<std::string> files;
    int64_t due_ms = 0;
  };
  std::vector<Retired> retired_;                     // owner thread only
  std::atomic<uint64_t> repacks_{0}, failures_{0}, saved_bytes_{0}, freed_bytes_{0};
  std::atomic<int64_t> last_saved_bytes_{0};
  std::thread thread_;
};

}  // namespace skyport::hub
