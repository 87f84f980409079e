// The control tower's real I/O: the hub's own deploy/stop operations, the
// repositories, the registry's route configs (over gRPC), HTTP pings and the
// durable experiment data.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "hub/deploys/hub.h"
#include "hub/git/repo_store.h"
#include "hub/stats/stats_store.h"
#include "hub/flights/tower.h"
#include "rpc/channel.h"

namespace skyport::hub {

struct TowerIoOptions {
  std::string registry;        // HOST:PORT; "" = flights cannot run
  std::string token;           // the cluster token
  rpc::TlsFiles tls;
  int64_t deploy_timeout_ms = 300'000;
  int64_t stop_timeout_ms = 60'000;
  int64_t rpc_timeout_ms = 5'000;
  int64_t ping_timeout_ms = 5'000;
  // Several hubs: whether this hub still leads (hub/ha/leadership.h
  // Elected(), false from its fencing deadline on, before any successor can
  // be elected). A route write checks it before every attempt: a deposed
  // leader still finishing a step must not re-read a route its successor has
  // moved on and write its own older step on top. Empty = one hub.
  std::function<bool()> leading;
};

std::unique_ptr<TowerIo> MakeTowerIo(Hub* hub, RepoStore* repos, StatsStore* stats, TowerIoOptions o);

}  // namespace skyport::hub
