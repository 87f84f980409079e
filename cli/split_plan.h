// `skyport split`: the route config to write, computed from the current one
// (contract/split.h Rebalance, so that only the users whose slices change hands
// move), and the summary printed afterwards. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "contract/split.h"
#include "skyport/v1/registry.pb.h"

namespace skyport::cli {

struct SplitRequest {
  std::string app;
  std::map<std::string, uint32_t> weights;  // full commits (ResolveWeights); only these stay in the config
  bool new_test = false;                    // re-deal every user under `new_split_id`
  std::string new_split_id;                 // used for a new test, or when there is no config yet
  std::optional<bool> allow_override;       // unset: keep the current value (false for a new config)
  std::optional<std::vector<std::string>> hosts;          // unset: keep
  std::optional<std::vector<std::string>> path_prefixes;  // unset: keep
};

struct SplitPlan {
  v1::RouteConfig route;           // to write; revision cleared
  int64_t expected_revision = 0;   // compare-and-swap: the current revision, 0 = none yet
  std::vector<router::Slice> old_layout;  // what routers use now, commits resolved
  std::vector<router::Slice> new_layout;
  bool new_split = false;          // new split id: every user dealt again
  double moved = 0;                // share of users whose arm changes (1 for a new split)
};

// `current`: the app's config (nullopt: none). `running`: the app's live
// commits, to resolve abbreviated commits of the current config the way
// routers do. Keeps the split id, hosts, prefixes and override flag unless
// the request changes them.
Result<SplitPlan> PlanSplit(const std::optional<v1::RouteConfig>& current, const SplitRequest& request,
                            const std::vector<std::string>& running);

// Human summary, e.g.
//   split web: s-1a2b3c4d, route revision 43
//   COMMIT        WEIGHT  SHARE
//   3f2a9c1b0d4e  80      80.0%
//   77e0d4aa91c2  20      20.0%
//   moved: 10.0% of users
std::string SplitSummary(const SplitPlan& plan, int64_t revision);

// What a user may not expect of the split just written (one line each, for
// stderr): weights are relative shares, so a sum other than 100 is said with
// the shares it gives; a running commit the split leaves out gets no traffic.
// `weights`: the request's, full commits; `running`: the app's live commits.
std::vector<std::string> SplitWarnings(const std::map<std::string, uint32_t>& weights,
                                       const std::vector<std::string>& running);

// Human view of a config as routers see it (`skyport split APP --show`).
std::string ShowSplit(const v1::RouteConfig& route);

}  // namespace skyport::cli
