// The leader's side of replication (hub/git/replicator.h): sends each push
// to every live standby and says whether enough copies exist.
//
// What it promises:
// - The standbys are the hubs with a live member key in etcd (hub/ha/
//   leadership.h Members), refreshed every `refresh_ms` on a thread of its
//   own, so a push waits for etcd only when fewer standbys are known than it
//   needs (then it lists them at once); a hub that joined since catches up by
//   itself, one that died meanwhile fails fast (connection refused).
// - Replicate() streams the pack and the updates to every standby at once,
//   each call bounded by ReplicationBudgetMs(timeout_ms, pack size)
//   (hub/peer/peer_plan.h), and returns when every one answered
//   or gave up: OK when 1 + acknowledgements >= min_copies
//   (hub/peer/peer_plan.h DecideCopies), else FAILED_PRECONDITION with the
//   reason the pusher sees ("not replicated: ..."), counted and logged.
// - A standby that hangs costs a push at most that budget.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hub/git/replicator.h"
#include "hub/ha/election.h"
#include "hub/peer/peer_plan.h"
#include "hub/peer/peer_stubs.h"

namespace skyport::hub::peer {

struct ReplicatorOptions {
  std::string token;
  TlsFiles tls;
  int min_copies = 2;
  int64_t timeout_ms = 10'000;
  int64_t refresh_ms = 500;
};

class Replicator final : public PushReplicator {
 public:
  explicit Replicator(ReplicatorOptions o);
  ~Replicator() override;  // stops the refresh thread
  // Starts the member refresh once the election runs. `members` lists every
  // live hub (this one included); `self` is this hub's member id.
  void Run(std::function<Result<std::vector<ha::LeaderRecord>>()> members, std::string self);

  Status Replicate(const ReplicaPush& push) override;

  // skyport_hub_git_peers, skyport_hub_git_replication_acked_total,
  // skyport_hub_git_replication_refused_total, skyport_hub_git_replica_send_failures_total.
  std::string MetricsText() const;

 private:
  void RefreshLoop();
  std::vector<ha::LeaderRecord> Refresh();  // lists the members now; the others, as known after
  PeerResult SendTo(const ha::LeaderRecord& peer, const ReplicaPush& push, int64_t deadline_ms);

  const ReplicatorOptions o_;
  PeerStubs stubs_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::function<Result<std::vector<ha::LeaderRecord>>()> members_fn_;  // set once by Run
  std::string self_;                                                    // set once by Run
  std::vector<ha::LeaderRecord> peers_;  // guarded by mu_: the others, as last listed
  bool stop_ = false;                    // guarded by mu_
  std::thread refresh_;
  std::atomic<uint64_t> acked_{0}, refused_{0}, send_failures_{0};
};

}  // namespace skyport::hub::peer
