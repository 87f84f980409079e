// A hub's catch-up: makes its repositories agree with another hub's
// (hub/peer/peer_plan.h says what differs; hub/peer/replica_apply.h applies
// it with the checks of a push).
//
// What it promises:
// - A standby mirrors the leader: on start (once a leader is known), on every
//   change of leader, when a replicated push found it out of sync
//   (Trigger), and every `interval_ms`. One sync at a time, on a thread of
//   its own; each sync is bounded (a deadline on every call, max_refs refs
//   per app per round, at most 8 rounds, the push bounds on every pack).
// - A new leader, at takeover, takes from every other live hub what they
//   have beyond it (UnionFrom): refs it lacks, and fast-forwards; a push some
//   standby acknowledged survives the loss of the leader that took it.
// - Refs move by compare-and-swap against what this hub held when it asked,
//   so a push replicated meanwhile is never rolled back, and a takeover's
//   sync may run beside the loop's (it never waits for one in flight).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hub/git/git_http.h"
#include "hub/git/repo_store.h"
#include "hub/ha/election.h"
#include "hub/peer/peer_plan.h"
#include "hub/peer/peer_stubs.h"

namespace skyport::hub::peer {

inline constexpr int64_t kTakeoverRefsMs = 1000;

struct CatchUpOptions {
  std::string token;
  TlsFiles tls;
  PushLimits limits;
  int64_t interval_ms = 10'000;
  int64_t timeout_ms = 10'000;   // Refs; a FetchPack gets ReplicationBudgetMs(timeout_ms, the largest pack)
};

class CatchUp {
 public:
  CatchUp(RepoStore* repos, CatchUpOptions o);
  ~CatchUp();  // Stop(), then joins the thread
  // Cancels every call in flight (a takeover's sync too) and every later one;
  // the loop ends. Idempotent, any thread.
  void Stop();
  // Starts mirroring once the election runs: `leading` and `leader` (the
  // leader's record, nullopt when unknown) are asked every wake.
  void Run(std::function<bool()> leading, std::function<std::optional<ha::LeaderRecord>()> leader, std::string self);
  // A sync as soon as possible (a replicated push found this hub out of sync).
  void Trigger(const std::string& why);

  // kUnion from each of `hubs` but `self` (this hub's member id), each
  // bounded (a hub that does not list its refs within kTakeoverRefsMs is
  // skipped: a takeover must not wait for a hung hub); best effort (failures
  // logged). Refs taken. May be called before Run.
  size_t UnionFrom(const std::vector<ha::LeaderRecord>& hubs, const std::string& self);

  // skyport_hub_git_catch_up_total{result}, skyport_hub_git_catch_up_refs_total.
  std::string MetricsText() const;

 private:
  void Loop();
  // One sync from the hub at `address`; refs moved, or why not.
  Result<size_t> SyncFrom(const std::string& address, SyncMode mode, int64_t refs_timeout_ms);
  Result<size_t> SyncApp(v1::HubPeer::Stub& stub, const AppSync& plan, SyncMode mode);

  RepoStore* repos_;
  const CatchUpOptions o_;
  PeerStubs stubs_;
  std::function<bool()> leading_;                                   // set once by Run
  std::function<std::optional<ha::LeaderRecord>()> leader_;         // set once by Run
  std::string self_;                                                // set once by Run
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;        // guarded by mu_
  bool triggered_ = false;   // guarded by mu_
  std::set<grpc::ClientContext*> calls_;  // guarded by mu_: cancelled when stopping
  friend class CallGuard;
  std::thread thread_;
  std::atomic<uint64_t> ok_{0}, failed_{0}, refs_{0};
};

}  // namespace skyport::hub::peer
