// Which release is current, which one a rollback goes back to, and what the
// rollback does. Pure: the route's weights, the running commits and the
// active flight come in as values.
//
// Current release: the newest SUCCEEDED release whose commit the app's route
// gives weight (> 0). Without a route config the routers send everyone to the
// most recently deployed commit, so then it is simply the newest succeeded
// release. A route that gives weight to no released commit has no current
// release.
//
// Previous release (the default rollback target): the newest succeeded
// release older than the current one that differs from it in commit or in
// config version (rolling back to what already serves would change nothing).
// After "v5 = rollback to v3", v5 is current and the previous one is the
// newest succeeded release before v5 that is not v3's commit — a second
// rollback undoes the first, as on Heroku.
//
// A rollback to vN (rollback_plan):
//   - refused while a flight is active on the app (the flight owns the weights);
//     refused when vN does not exist, did not succeed, or is already current;
//   - deploy first when vN's commit runs nowhere, or runs with another env than
//     vN's (then the deploy brings vN's env back);
//   - then the route gives vN's commit 100% (one weight flip);
//   - every other commit the route gave weight (or, without a route, the
//     current release's commit) retires after the grace period.
// A retirement stops its commit when its grace ends unless by then the route
// gives it weight again, a newer release (deploy or rollback) chose it, or an
// active flight uses it: the rules a promoted flight's retiring arms follow
// (hub/flights/tower.cc, hub/flights/tower_io.cc Stop).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "core/status.h"
#include "hub/deploys/releases.h"

namespace skyport::hub {

// The app's route as a rollback sees it: weight per commit (keys as the route
// has them: full commits or prefixes). nullopt = no route config.
using RouteWeights = std::optional<std::map<std::string, uint32_t>>;

// Whether `commit` (full) gets weight > 0 (a key equal to it or a prefix of it).
bool Weighted(const RouteWeights& route, const std::string& commit);

// Release numbers; nullopt when there is none.
std::optional<uint32_t> CurrentRelease(const AppReleases& app, const RouteWeights& route);
std::optional<uint32_t> PreviousRelease(const AppReleases& app, uint32_t current);

struct RollbackInputs {
  const AppReleases* app = nullptr;
  RouteWeights route;
  uint32_t requested = 0;  // vN; 0 = the previous release
  // The app's commits with an instance running now, with the env of their deployment.
  std::map<std::string, std::map<std::string, std::string>> running;
  std::string active_flight;  // "" = none
};

struct RollbackPlan {
  uint32_t target = 0;
  std::optional<uint32_t> from;     // the current release, if any
  std::string commit;               // the target's commit (full)
  bool deploy = false;              // its commit must be deployed (again) first
  std::set<std::string> retire;     // commits that lose their weight; stopped after the grace
  std::string description;          // "rollback to v3"
};

// FAILED_PRECONDITION / NOT_FOUND with a message that says what to do.
Result<RollbackPlan> PlanRollback(const std::string& app_name, const RollbackInputs& in);

// Whether a retirement due now should stop its commit (see above), with the
// reason when not.
struct RetireDecision {
  bool stop = false;
  std::string keep_reason;
};
RetireDecision ShouldRetire(const Retirement& r, const AppReleases& app, const RouteWeights& route,
                            const std::set<std::string>& flight_commits);

}  // namespace skyport::hub
