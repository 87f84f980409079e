// The election's I/O shell: runs hub/ha/election.h against etcd and tells
// the rest of the hub whether it leads.
//
// What it promises:
// - One loop thread owns the Election; every etcd call is asynchronous, its
//   outcome fed back under the lock, so a hung etcd never delays the fencing
//   deadline: Leading() turns false at the deadline by itself.
// - Leading() is true only after `takeover` (run on a thread of its own,
//   retried every retry interval until it succeeds while we are still
//   elected) returned OK: a new leader serves only with the state it loaded.
// - `on_deposed` runs once, on the loop thread, when a leader stops leading
//   (deposition is final; the daemon ends the process so that every piece of
//   leader-only work stops with it).
// - FencedTxn writes only while the leader key still has our
//   create_revision (a deposed leader cannot write, even before it knows).
// - While it holds a lease, the hub's record (LeaderRecord: member id and
//   addresses) is kept under <prefix>hub/members/<member> on that lease, so
//   the live hubs can be listed (Members) and a dead one drops out with its
//   lease.
// - Stop (and destruction) revokes the lease (best effort) so that a
//   successor need not wait for the TTL, and returns after every callback has
//   run; the object may still be asked Leading() (false) afterwards.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/log_limiter.h"
#include "core/status.h"
#include "hub/ha/election.h"
#include "hub/ha/gate.h"
#include "rpc/etcd_client.h"

namespace skyport::hub::ha {

struct LeadershipOptions {
  std::string prefix = "/skyport/";  // keys: <prefix>hub/leader, <prefix>hub/desired
  ElectionTimings timings;
  LeaderRecord me;
  std::function<Status()> takeover;
  std::function<void(const std::string& reason)> on_deposed;
};

class Leadership final : public LeaderGate {
 public:
  static std::unique_ptr<Leadership> Start(std::shared_ptr<etcd::Client> client, LeadershipOptions o);
  ~Leadership() override;  // Stop()
  // Ends the loop and the takeover thread, revokes the lease (best effort)
  // and waits for every callback; afterwards this hub does not lead. Once;
  // call it from one thread (the daemon's main thread).
  void Stop();

  bool Leading() const override;
  // Elected and within the fencing deadline, taken over or not (the tower
  // works during the takeover): the check FencedTxn makes before it writes.
  bool Elected() const;
  std::string LeaderGrpc() const override;
  std::string LeaderGit() const override;

  // `txn` with the leader fence added: its success ops apply only if the
  // leader key still has our create_revision AND the caller's compares hold.
  // FAILED_PRECONDITION when we do not lead or no longer do (nothing
  // written); UNAVAILABLE from etcd (outcome unknown: read back). Otherwise
  // the answer: succeeded() false means one of the caller's compares failed,
  // and its failure ops ran (their answers first, the fence's read last).
  Result<etcdserverpb::TxnResponse> FencedTxn(etcdserverpb::TxnRequest txn);
  // Every hub whose member key is live (this one included once its key is
  // in), at most kMaxMembers; unreadable records are skipped (logged).
  Result<std::vector<LeaderRecord>> Members() { return ListMembers(*client_, o_.prefix); }
  static Result<std::vector<LeaderRecord>> ListMembers(etcd::Client& client, const std::string& prefix);
  static constexpr int kMaxMembers = 64;
  // The leader as last known (nullopt when none is known).
  std::optional<LeaderRecord> Leader() const;
  const LeaderRecord& me() const { return o_.me; }

  // skyport_hub_is_leader, skyport_hub_elections_total,
  // skyport_hub_elections_won_total, skyport_hub_leader_changes_total.
  std::string MetricsText() const;

 private:
  Leadership(std::shared_ptr<etcd::Client> client, LeadershipOptions o);
  void Loop();
  void Issue(Action a, int64_t sent, int64_t lease);  // without the lock; the call counted in outstanding_
  void AfterChangeLocked(int64_t now);  // role and leader logs, takeover start, deposition
  void OnWatch(etcd::WatchUpdate u);
  void Takeover();
  void PutMember(int64_t lease);  // without the lock; the call counted in outstanding_
  void CallDone();  // one async call fewer; wakes the loop
  int64_t Now() const;
  std::string Key(const std::string& name) const { return o_.prefix + "hub/" + name; }

  const std::shared_ptr<etcd::Client> client_;
  const LeadershipOptions o_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Election election_;                  // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  int outstanding_ = 0;                // async calls out; guarded by mu_
  bool took_over_ = false;             // guarded by mu_
  bool takeover_started_ = false;      // guarded by mu_
  bool deposed_reported_ = false;      // guarded by mu_
  bool watch_lost_ = false;            // guarded by mu_: the loop restarts the watch
  Role last_role_ = Role::kCandidate;  // guarded by mu_
  std::string last_leader_member_;     // guarded by mu_
  uint64_t leader_changes_ = 0;        // guarded by mu_
  LogLimiter quiet_grant_, quiet_keepalive_, quiet_campaign_;  // guarded by mu_ (etcd down: retries every 200 ms)
  int64_t member_lease_ = 0;           // guarded by mu_: the lease our member key is on (0: none yet)
  bool member_put_out_ = false;        // guarded by mu_
  int64_t member_retry_at_ = 0;        // guarded by mu_
  LogLimiter quiet_member_;            // guarded by mu_
  std::unique_ptr<etcd::Watch> watch_; // loop thread only
  int64_t watch_from_ = 0;             // guarded by mu_: revision to start the watch at (0: not yet)
  std::thread takeover_thread_;
  std::thread loop_;
};

}  // namespace skyport::hub::ha
