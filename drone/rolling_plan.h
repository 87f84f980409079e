// How a deploy of an (app, commit) that already runs brings one role's
// instances to what it asks for, without a moment of fewer ready
// instances than before. Pure.
//
// An instance is `current` when it runs with the environment and config
// version the deploy asks for; else it is stale (a `skyport config` change,
// another --env). Current instances stay. Missing ones are started: in
// place of a stale one as a rolling step — the new instance (under a free
// instance number) started, ready and registered, and only then the stale
// one deregistered, drained and stopped — one step at a time; with no stale
// one left to replace, all together (as a first deploy starts them). Stale
// instances beyond the count go once the steps are done.
//
//   live {0 stale}, wanted 1        -> roll [start 1, retire 0]
//   live {1 stale}, wanted 1        -> roll [start 0, retire 1]
//   live {0 stale, 1 stale}, want 2 -> roll [start 2, retire 0], [start 3, retire 1]
//   live {}, wanted 2               -> start_now [0, 1]
//   live {0 current}, wanted 1      -> keep [0]
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skyport::drone {

// What an instance was started with, and what a deploy asks for.
struct LaunchEnv {
  std::map<std::string, std::string> env;  // the hub's env (config under the deploy's --env)
  uint64_t config_version = 0;
};
// Whether an instance started with `running` serves a deploy asking for
// `wanted`: the same env and config version; or a newer config version than
// the deploy's — a deploy sent before a later config change, arriving after
// that change was rolled out, must not roll it back.
bool IsCurrent(const LaunchEnv& running, const LaunchEnv& wanted);

struct LiveInstance {
  uint32_t instance = 0;
  bool current = true;
};

struct RollStep {
  uint32_t start = 0;   // the new instance's number
  uint32_t retire = 0;  // the stale one it replaces
  bool operator==(const RollStep&) const = default;
};

struct RollPlan {
  std::vector<uint32_t> keep;       // current instances, left as they are
  std::vector<uint32_t> start_now;  // new instances that replace nothing
  std::vector<RollStep> roll;       // in order, one at a time
  std::vector<uint32_t> retire;     // stale instances beyond the count, stopped after the roll
};

// `live`: the role's instances that run or are being started (failed and
// stopped ones are not live; their numbers are free). `wanted`: the
// deploy's instance count (0 counts as 1). New numbers are the lowest not
// taken by a live instance or an earlier choice. Current instances beyond
// `wanted` are kept (a deploy never scales down).
RollPlan PlanRoll(const std::vector<LiveInstance>& live, uint32_t wanted);

}  // namespace skyport::drone
