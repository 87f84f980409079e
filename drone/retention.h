// What the drone's disk janitor deletes (pure; drone/disk_janitor.h is its
// I/O shell). A commit's checkout (DATA/deploy/APP/COMMIT) and its logs
// (DATA/logs/APP/COMMIT: instance logs, release.log) stay while anything of
// it runs or a deploy of it is under way, and for `retention_ms` after they
// were last written to; then they expire together. At most `max_per_pass`
// commits per pass, the longest unused first, so one pass does bounded work.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace skyport::drone {

struct StoredCommit {
  std::string app, commit;
  bool checkout = false;         // DATA/deploy/APP/COMMIT exists
  bool logs = false;             // DATA/logs/APP/COMMIT exists
  int64_t last_write_unix_ms = 0;  // newest mtime of the checkout dir and of the log dir and its files
};

struct RetentionPolicy {
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  size_t max_per_pass = 32;
};

using CommitKey = std::pair<std::string, std::string>;  // (app, commit)

// The stored commits to delete now, oldest first. `in_use` holds the
// (app, full commit) pairs that run (any instance state) or are being
// deployed: never selected, however old.
std::vector<StoredCommit> SelectExpired(std::vector<StoredCommit> stored, const std::set<CommitKey>& in_use,
                                        int64_t now_unix_ms, const RetentionPolicy& policy);

}  // namespace skyport::drone
