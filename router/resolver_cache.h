// The policy of the router's host-name cache, pure (time and jitter are
// inputs; router/resolver.h runs it on its own threads with getaddrinfo).
//
// Life of a name:
//   Lookup (table build) ── miss ──▶ entry, due now ──▶ TakeDue ──▶ resolve
//     ▲                                                           │
//     └──── address (hit) ◀── OnResolved: ok ── due again after refresh_ms
//                              failed ── retry with backoff (initial..max);
//                                        a name that had an address keeps it
//   Release (no endpoint uses the name any more) ──▶ entry gone
//
// Promises: at most max_names entries (a new name beyond is refused,
// counted, and looked up again at its app's next build); a name is handed
// out by TakeDue to one resolver at a time; OnResolved says when an address
// appeared or changed (the caller rebuilds the apps that use the name) and
// when to log (the first failure of a run of failures, and the recovery), so
// a name that keeps failing is logged once, not once per attempt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/backoff.h"
#include "core/status.h"

namespace skyport::router {

struct ResolverPolicy {
  int64_t refresh_ms = 30'000;  // a resolved name is looked up again this often (changes are picked up)
  BackoffPolicy retry{500, 30'000, 2.0, 0.2};  // after failures
  size_t max_names = 10'000;
};

struct ResolverCounters {
  uint64_t hits = 0;      // lookups answered with an address
  uint64_t misses = 0;    // lookups of a name without an address (new, or still failing)
  uint64_t failures = 0;  // resolutions that failed
  uint64_t refused = 0;   // new names refused: the cache was full
  uint64_t changes = 0;   // addresses that appeared or changed
};

class ResolverCache {
 public:
  explicit ResolverCache(ResolverPolicy policy) : policy_(policy) {}

  // The address routing may use now, or nullptr (not resolved yet, failing
  // since its first try, or refused). A new name gets an entry due at once.
  const std::string* Lookup(const std::string& name, int64_t now_ms);
  // No endpoint uses `name` any more.
  void Release(const std::string& name);

  // Up to `max` names due at `now_ms`, each marked in flight until its OnResolved.
  std::vector<std::string> TakeDue(int64_t now_ms, size_t max);
  // The earliest time a name not in flight is due; INT64_MAX if none.
  int64_t NextDueMs() const;

  struct Outcome {
    bool changed = false;         // an address appeared or changed: rebuild the apps using the name
    bool log_failure = false;     // first failure of a run: log it (with the error)
    bool log_recovered = false;   // resolved again after failures: log it
    int failures_in_a_row = 0;
    bool keeps_address = false;   // failed, but the last good address keeps serving
  };
  // `jitter01` is uniform in [0, 1). A name released meanwhile is ignored.
  Outcome OnResolved(const std::string& name, const Result<std::string>& address, int64_t now_ms, double jitter01);

  size_t size() const { return entries_.size(); }
  const ResolverCounters& counters() const { return counters_; }
  const ResolverPolicy& policy() const { return policy_; }

 private:
  struct Entry {
    std::optional<std::string> address;
    int64_t due_ms = 0;
    bool in_flight = false;
    int failures = 0;  // in a row
  };
  ResolverPolicy policy_;
  std::unordered_map<std::string, Entry> entries_;
  ResolverCounters counters_;
};

}  // namespace skyport::router
