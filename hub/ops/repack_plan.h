// Which hub repositories to repack now (pure; the janitor in repack.h is its
// I/O shell). Every accepted push with objects lands as one more pack file,
// and reads (deploys, fetches) look through every pack; a repack merges them
// into one with deltas across pushes. A repository is due:
//   - after `after_pushes` pushes since its last repack (counted by this hub
//     run), or once it holds that many packs (what pushes left before a
//     restart: the pack count survives it);
//   - when `interval_ms` passed since its last repack (or since the hub
//     started) and it has more than one pack or any loose objects.
// At most `max_per_pass` per pass, the most packs first (ties by name), so a
// pass does bounded work and the worst repositories go first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skyport::hub {

struct RepackPolicy {
  int64_t interval_ms = 24LL * 3600 * 1000;
  uint32_t after_pushes = 20;   // 0: never by count
  size_t max_per_pass = 4;
};

struct RepoActivity {
  std::string app;
  uint32_t pushes_since_repack = 0;  // this run
  int64_t last_repack_ms = 0;        // monotonic; the hub's start when never repacked in this run
  uint32_t packs = 0;                // pack files (.pack with an .idx) now
  bool loose = false;                // loose objects now
};

// The apps to repack now, in order.
std::vector<std::string> DueRepacks(std::vector<RepoActivity> repos, int64_t now_ms, const RepackPolicy& policy);

// Why `r` is due ("12 pushes since the last repack", "12 packs", "24h since the
// last repack, 3 packs"), or "" when it is not.
std::string RepackReason(const RepoActivity& r, int64_t now_ms, const RepackPolicy& policy);

}  // namespace skyport::hub
