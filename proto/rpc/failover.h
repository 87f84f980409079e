// Calls over an AddressPool: try the addresses in turn, follow the hub
// leader (rpc/leader.h), and say which address answered.
//
// Which failures move a call on to the next address:
// - kSafe calls (reads; KeepAlive; Grant, whose lease a retry leaves
//   unused to expire; Revoke and Deregister, which remove what is named and
//   answer NOT_FOUND the second time; StatsSink.Ship, which every hub
//   deduplicates by batch id): a connection failure, UNAVAILABLE or a
//   missed deadline on one address moves on to the next, within the call's
//   deadline, which is shared out among the addresses left.
// - kIfUnsent calls (Register, Allocate, PutRoute, Deploy, Stop, flight
//   Start and Kill: writes whose repeat would not be the same write): with a
//   list, the call goes out only once the channel is connected, so a failure
//   to connect is known to have sent nothing and moves on; once sent, an
//   UNAVAILABLE or a missed deadline means the outcome is unknown, and it is
//   returned to the caller, never silently sent again.
// - A standby's refusal (skyport-standby) says the call did not run: any
//   call goes on to the leader it names (at most kMaxLeaderHops hops), or to
//   the next address when it names none or one this walk could not reach
//   (a dead leader is named until its lease runs out). When standbys refused
//   and no leader answered (an election under way), a call with a deadline
//   walks the whole list again every kRewalkPauseMs until it has an answer
//   or its deadline comes: nothing was sent, so any call may.
// Any other answer (OK or an application error) comes from the server that
// answered; the walk stops there.
//
// With a single address and no leader hint, a call behaves exactly as a
// plain call (rpc/call.h): one attempt, the whole deadline, the status as is.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "rpc/address_pool.h"

namespace skyport::rpc {

enum class Retry { kSafe, kIfUnsent };

// The pause between two walks of the list during an election.
inline constexpr int64_t kRewalkPauseMs = 250;

// One call's way through the pool: Next() names the address to try, Judge()
// takes its outcome and says whether to go on. Not thread-safe (one call).
class FailoverWalk {
 public:
  FailoverWalk(AddressPool& pool, Retry retry);

  // The next address to try, nullopt when every one was tried (one found
  // unreachable in this call is not tried again).
  std::optional<std::string> Next();
  // How many addresses are left to try after the current one (for sharing
  // out a deadline).
  size_t left() const { return queue_.size() - pos_; }
  // Whether the call on this address should first wait for a connection
  // (kIfUnsent with more than one address to choose from).
  bool ConnectFirst() const { return retry_ == Retry::kIfUnsent && (queue_.size() > 1 || hops_ > 0); }
  // The channel to `address` could not connect (nothing was sent).
  void Unreachable(const std::string& address, const std::string& why);
  // The call on `address` ended with `status` (`ctx` holds the trailing
  // metadata). True: try Next(). False: `status` is the call's answer.
  bool Judge(const std::string& address, const grpc::ClientContext& ctx, const grpc::Status& status);
  // Why the walk ended without an answer: the last failure, with the
  // addresses tried when there were several.
  Status Failure() const;
  // Walks the list again (the pool's order now), skipping the addresses
  // found unreachable so far in this call.
  void Again();
  // A standby refused the call during this walk (the cluster is up, its
  // leader not reachable yet).
  bool saw_standby() const { return saw_standby_; }

 private:
  AddressPool& pool_;
  Retry retry_;
  std::vector<std::string> queue_;
  size_t pos_ = 0;
  int hops_ = 0;
  std::vector<std::string> tried_;
  std::set<std::string> unreachable_;  // no connection, or a transport failure: not followed as a leader
  bool saw_standby_ = false;
  Status last_ = Status::Unavailable("no address to try");
};

struct FailoverOptions {
  int64_t timeout_ms = 0;      // the whole call, all addresses; <= 0: none
  bool wait_for_peer = false;  // rpc::PrepareContext
  Retry retry = Retry::kSafe;
  // Without a deadline: how long a write waits for each address's
  // connection (ConnectFirst) before moving on.
  int64_t connect_timeout_ms = kConnectTimeoutMs;
};

// The outcome of a call and the address that gave it ("" when none answered).
struct Answered {
  Status status;
  std::string by;
};

// One attempt on one address: make the call on `channel` with `ctx`
// (prepared: token, deadline) and keep the response.
using Attempt = std::function<grpc::Status(const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& ctx)>;

// Runs `attempt` on the pool's addresses as described above.
Answered CallWithFailover(AddressPool& pool, const std::string& token, const FailoverOptions& opts,
                          const Attempt& attempt);

// A streaming call: the attempt sets `started` once a message arrived. From
// then on the stream belongs to that address: however it ends is the call's
// answer (its messages were handed to the caller; going elsewhere would
// repeat them). Before that, it moves on as a unary call does.
using StreamAttempt = std::function<grpc::Status(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                                                 grpc::ClientContext& ctx, bool& started)>;
Answered StreamWithFailover(AddressPool& pool, const std::string& token, const FailoverOptions& opts,
                            const StreamAttempt& attempt);

// The part of the remaining time one of `left` addresses gets: an equal
// share, but at least min(remaining, kMinAttemptMs) so that a live server
// behind a dead one still has time to answer. Pure.
inline constexpr int64_t kMinAttemptMs = 1000;
int64_t AttemptBudgetMs(int64_t remaining_ms, size_t left);

}  // namespace skyport::rpc
