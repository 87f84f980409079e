#include "rpc/failover.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/call.h"
#include "rpc/convert.h"
#include "rpc/leader.h"

namespace skyport::rpc {
namespace {

// Whether `channel` gets a connection before `until`; false as soon as an
// attempt to connect fails (WaitForConnected would wait out the deadline on
// a dead address). A channel still in its reconnect backoff from an earlier
// failure (at most kMaxReconnectBackoffMs) gets one more attempt, its peer
// may be back, but only that long: gRPC keeps a failed channel in
// TRANSIENT_FAILURE while it retries, so no state change may ever come
// (measured: a dead hub leader held the CLI for 7 s of its 10).
bool Connects(grpc::Channel& channel, std::chrono::system_clock::time_point until) {
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  bool attempted = false;
  if (state == GRPC_CHANNEL_TRANSIENT_FAILURE)
    until = std::min(until, std::chrono::system_clock::now() + std::chrono::milliseconds(kMaxReconnectBackoffMs + 100));
  while (true) {
    if (state == GRPC_CHANNEL_READY) return true;
    if (state == GRPC_CHANNEL_SHUTDOWN) return false;
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE && attempted) return false;
    if (state == GRPC_CHANNEL_CONNECTING) attempted = true;
    if (!channel.WaitForStateChange(state, until)) return false;
    state = channel.GetState(/*try_to_connect=*/true);
  }
}

// One walk down the list: the answer, or nullopt when no address gave one.
std::optional<Answered> WalkOnce(FailoverWalk& walk, AddressPool& pool, const std::string& token,
                                 const FailoverOptions& opts, const StreamAttempt& attempt, bool timed,
                                 int64_t deadline);

}  // namespace

FailoverWalk::FailoverWalk(AddressPool& pool, Retry retry) : pool_(pool), retry_(retry), queue_(pool.Order()) {}

std::optional<std::string> FailoverWalk::Next() {
  while (pos_ < queue_.size() && unreachable_.count(queue_[pos_]) > 0) ++pos_;  // once per call is enough
  if (pos_ >= queue_.size()) return std::nullopt;
  if (std::find(tried_.begin(), tried_.end(), queue_[pos_]) == tried_.end()) tried_.push_back(queue_[pos_]);
  return queue_[pos_++];
}

void FailoverWalk::Again() {
  queue_ = pool_.Order();
  pos_ = 0;
  hops_ = 0;
  saw_standby_ = false;
}

void FailoverWalk::Unreachable(const std::string& address, const std::string& why) {
  pool_.Failed(address);
  unreachable_.insert(address);
  last_ = Status::Unavailable(why);
}

bool FailoverWalk::Judge(const std::string& address, const grpc::ClientContext& ctx, const grpc::Status& status) {
  if (auto refusal = ReadStandbyRefusal(ctx, status)) {
    pool_.Failed(address);
    last_ = FromGrpc(status);
    saw_standby_ = true;
    if (refusal->leader.empty() || refusal->leader == address) return true;
    // A standby names the leader it knows until that leader's lease runs
    // out: one this walk could not reach is dead or cut off, not a hop.
    if (unreachable_.count(refusal->leader) > 0) return true;
    if (hops_ >= kMaxLeaderHops) {
      log::Warn("not following the " + pool_.service() + " leader: too many hops",
                {{"standby", address}, {"leader", refusal->leader}, {"hops", hops_}});
      return true;
    }
    ++hops_;
    log::Info("following the " + pool_.service() + " leader",
              {{"standby", address}, {"leader", refusal->leader}, {"hop", hops_}});
    // The leader next, even when it is in the queue already (further back)
    // or outside the list.
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(pos_), refusal->leader);
    return true;
  }
  const auto code = status.error_code();
  const bool transport = code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
  if (!transport) {
    pool_.Answered(address);
    return false;
  }
  pool_.Failed(address);
  unreachable_.insert(address);
  last_ = FromGrpc(status);
  return retry_ == Retry::kSafe;
}

Status FailoverWalk::Failure() const {
  if (tried_.size() <= 1) return last_;
  std::string tried;
  for (const std::string& a : tried_) tried += (tried.empty() ? "" : ", ") + a;
  return Status(last_.code(), last_.message() + " (" + pool_.service() + " tried: " + tried + ")");
}

int64_t AttemptBudgetMs(int64_t remaining_ms, size_t left) {
  if (remaining_ms <= 0) return 0;
  if (left <= 1) return remaining_ms;
  int64_t share = remaining_ms / static_cast<int64_t>(left);
  return std::max(share, std::min(remaining_ms, kMinAttemptMs));
}

Answered CallWithFailover(AddressPool& pool, const std::string& token, const FailoverOptions& opts,
                          const Attempt& attempt) {
  return StreamWithFailover(pool, token, opts,
                            [&](const std::string&, const std::shared_ptr<grpc::Channel>& channel,
                                grpc::ClientContext& ctx, bool&) {
                              return attempt(channel, ctx);
                            });
}

Answered StreamWithFailover(AddressPool& pool, const std::string& token, const FailoverOptions& opts,
                            const StreamAttempt& attempt) {
  const bool timed = opts.timeout_ms > 0;
  const int64_t deadline = MonoNowMs() + opts.timeout_ms;
  FailoverWalk walk(pool, opts.retry);
  for (;;) {
    if (auto done = WalkOnce(walk, pool, token, opts, attempt, timed, deadline)) return *done;
    // Standbys answered but no leader did: an election is under way (a
    // standby names the dead leader until its lease runs out). Nothing was
    // sent anywhere, so the whole list is walked again while time is left.
    const int64_t remaining = deadline - MonoNowMs();
    if (!timed || !walk.saw_standby() || remaining <= kRewalkPauseMs) return {walk.Failure(), ""};
    std::this_thread::sleep_for(std::chrono::milliseconds(kRewalkPauseMs));
    walk.Again();
  }
}

namespace {

std::optional<Answered> WalkOnce(FailoverWalk& walk, AddressPool& pool, const std::string& token,
                                 const FailoverOptions& opts, const StreamAttempt& attempt, bool timed,
                                 int64_t deadline) {
  while (auto address = walk.Next()) {
    int64_t budget = 0;
    if (timed) {
      int64_t remaining = deadline - MonoNowMs();
      if (remaining <= 0) break;
      budget = AttemptBudgetMs(remaining, walk.left() + 1);
    }
    auto channel = pool.Channel(*address);
    if (!channel.ok()) {
      walk.Unreachable(*address, channel.status().message());
      continue;
    }
    if (walk.ConnectFirst()) {
      // A write goes out only on a live connection: a failure to connect
      // is then known to have sent nothing.
      auto until = std::chrono::system_clock::now() + std::chrono::milliseconds(timed ? budget : opts.connect_timeout_ms);
      if (!Connects(**channel, until)) {
        walk.Unreachable(*address, "no connection to " + pool.service() + " " + *address);
        continue;
      }
    }
    // A write once sent is not sent again: it gets all the time left.
    if (timed && opts.retry == Retry::kIfUnsent) budget = std::max<int64_t>(1, deadline - MonoNowMs());
    grpc::ClientContext ctx;
    PrepareContext(ctx, token, timed ? budget : 0, opts.wait_for_peer);
    bool started = false;
    grpc::Status st = attempt(*address, *channel, ctx, started);
    if (st.ok() || started) {
      const bool broke = st.error_code() == grpc::StatusCode::UNAVAILABLE;
      if (broke) pool.Failed(*address);  // the next call starts elsewhere
      else pool.Answered(*address);
      return Answered{FromGrpc(st), *address};
    }
    if (!walk.Judge(*address, ctx, st)) return Answered{FromGrpc(st), *address};
  }
  return std::nullopt;
}

}  // namespace

}  // namespace skyport::rpc
