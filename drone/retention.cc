#include "drone/retention.h"

#include <algorithm>
#include <tuple>

namespace skyport::drone {

std::vector<StoredCommit> SelectExpired(std::vector<StoredCommit> stored, const std::set<CommitKey>& in_use,
                                        int64_t now_unix_ms, const RetentionPolicy& policy) {
  std::erase_if(stored, [&](const StoredCommit& c) {
    return in_use.count({c.app, c.commit}) > 0 || now_unix_ms - c.last_write_unix_ms < policy.retention_ms ||
           (!c.checkout && !c.logs);
  });
  std::sort(stored.begin(), stored.end(), [](const StoredCommit& a, const StoredCommit& b) {
    if (a.last_write_unix_ms != b.last_write_unix_ms) return a.last_write_unix_ms < b.last_write_unix_ms;
    return std::tie(a.app, a.commit) < std::tie(b.app, b.commit);
  });
  if (stored.size() > policy.max_per_pass) stored.resize(policy.max_per_pass);
  return stored;
}

}  // namespace skyport::drone
