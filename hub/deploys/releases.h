// Releases (issue 16): every deploy of an app is recorded as a release v1, v2,
// … (numbers per app, never reused), and a rollback is a release too. The book
// is kept with the desired state (hub/deploys/desired.h: the same JSON, the
// same file or etcd key), so it survives restarts and failovers.
//
// A release's life: pending (recorded before anything is sent to a drone) ->
// succeeded | failed (with the error). A pending release found when the
// state is loaded (the hub stopped, or lost its leadership, before the
// outcome was known) becomes "interrupted".
//
// Bounded: the newest kKeepReleases releases of an app are kept, and while all
// apps' releases weigh more than kMaxReleaseBookBytes the oldest release of the
// app with the most is let go (never a pending one, never an app's newest);
// `dropped` counts the releases let go. The env a release ran with is kept (a
// rollback redeploys with it) but never shown: it may hold secrets.
//
// Pure data + JSON; the hub guards it with its lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace skyport::hub {

inline constexpr size_t kKeepReleases = 100;          // per app
// All apps' releases together, as saved (their share of the desired state's
// one JSON blob, which etcd takes whole: its default request limit is 1.5 MiB).
inline constexpr size_t kMaxReleaseBookBytes = 512 * 1024;
inline constexpr size_t kMaxReleaseErrorBytes = 2048;  // a longer error is cut
inline constexpr size_t kMaxRetirementsPerApp = 64;   // commits waiting for their grace to end

enum class ReleaseOutcome { kPending, kSucceeded, kFailed, kInterrupted };
std::string OutcomeName(ReleaseOutcome o);  // pending | succeeded | failed | interrupted

struct Release {
  uint32_t number = 0;          // assigned by ReleaseBook::Begin
  std::string commit;           // full hash
  int64_t config_version = 0;   // the app's config version when recorded (0: no config vars)
  std::string who;              // the token's name; "cluster" for the cluster token
  int64_t created_unix_ms = 0;
  int64_t finished_unix_ms = 0; // 0 while pending (and when interrupted)
  std::set<std::string> drones; // target drones
  uint32_t instances = 1;       // per role
  std::map<std::string, std::string> env;  // as deployed; never shown (secrets)
  ReleaseOutcome outcome = ReleaseOutcome::kPending;
  std::string error;            // failed / interrupted: why
  std::string description;      // "deploy", "rollback to v3"
  uint32_t rollback_to = 0;     // a rollback: the release it made current; else 0
  // A config change's rolling restart of a commit that ran: not a choice of
  // the commit (a retirement goes on; hub/deploys/rollback_plan.h ShouldRetire).
  bool restart = false;
  bool operator==(const Release&) const = default;
};

// A commit a rollback took traffic from: stopped once its grace ends
// (hub/deploys/rollback_plan.h ShouldRetire decides whether it still is).
struct Retirement {
  std::string commit;
  int64_t at_unix_ms = 0;
  uint32_t release = 0;  // the rollback that scheduled it
  bool operator==(const Retirement&) const = default;
};

struct AppReleases {
  uint32_t next = 1;        // the number the next release gets
  uint64_t dropped = 0;     // older releases let go (kKeepReleases)
  std::deque<Release> releases;  // oldest first, numbers increasing
  std::vector<Retirement> retiring;
  const Release* Find(uint32_t number) const;
  bool operator==(const AppReleases&) const = default;
};

class ReleaseBook {
 public:
  // Records `r` as the app's next release (its number is set and returned);
  // the oldest beyond the bounds are dropped and counted.
  uint32_t Begin(const std::string& app, Release r);
  // Resolves a pending release; false when there is no such pending release
  // (already resolved, dropped, unknown).
  bool Finish(const std::string& app, uint32_t number, ReleaseOutcome outcome, const std::string& error,
              int64_t now_unix_ms);
  // Every pending release becomes interrupted (at load: its outcome was never known).
  size_t InterruptPending(const std::string& why);

  // Schedules (or moves) the retirement of `r.commit`; at most
  // kMaxRetirementsPerApp per app (RESOURCE_EXHAUSTED beyond).
  Status AddRetirement(const std::string& app, const Retirement& r);
  // Removes the retirement of `commit` scheduled by `release`; false if none.
  bool DropRetirement(const std::string& app, const std::string& commit, uint32_t release);
  // Retirements due at `now`, by app.
  std::vector<std::pair<std::string, Retirement>> Due(int64_t now_unix_ms) const;

  const AppReleases* Find(const std::string& app) const;
  std::vector<std::string> Apps() const;
  // Forgets the app (apps destroy).
  void Erase(const std::string& app) { apps_.erase(app); }

  nlohmann::json ToJson() const;
  // DATA_LOSS naming the field on a malformed document.
  static Result<ReleaseBook> FromJson(const nlohmann::json& j);
  bool operator==(const ReleaseBook&) const = default;

 private:
  void TrimToBudget();
  std::map<std::string, AppReleases> apps_;
};

}  // namespace skyport::hub
