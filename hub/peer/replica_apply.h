// Applies what another hub sends (a replicated push, or a catch-up pack)
// with the same code and checks as a client's push (hub/git/push_apply.h):
// every pack byte passes the PushLimits bounds, every object git's fsck
// checks and the connectivity check, before anything lands. The leader is
// trusted to have decided, but bytes are bytes.
//
// Refs move by compare-and-swap on the old ids the sender names (a standby
// that missed a push does not take the next one on top of a stale ref: it
// answers out of sync and catches up). With `force`, non-fast-forward moves
// are allowed (the leader decided); without, they are refused as in a push.
// A command whose ref already holds its new id is done.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "hub/git/push_apply.h"
#include "hub/peer/peer_plan.h"

namespace skyport::hub::peer {

struct ReplicaResult {
  size_t applied = 0;   // refs moved (or already at their new id)
  // Not OK when a ref could not move: FAILED_PRECONDITION when this hub is
  // out of sync (an old id differs, objects are missing: catch up),
  // INVALID_ARGUMENT when the pack broke a bound or a check.
  Status status;
};

class ReplicaApply {
 public:
  // `commands` checked by the caller (ParseCommands rules).
  ReplicaApply(RepoStore* store, std::string app, std::vector<PushCommand> commands, PushLimits limits, bool force);
  ~ReplicaApply();
  // Pack bytes as they arrive (none for a push without objects).
  void Feed(std::string_view pack);
  ReplicaResult Finish();

 private:
  std::vector<PushCommand> pending_;   // the commands not already done
  size_t done_ = 0;                    // commands whose ref held its new id already
  std::unique_ptr<PushSession> session_;
  Status feed_error_;
};

// Refs of every app of `store` (direct refs only), for a peer's Refs call
// and to plan a sync. Each app's refs are read under its write lock, so a
// push being replicated is seen whole or not at all.
Result<RepoRefs> ReadAllRefs(RepoStore* store);

}  // namespace skyport::hub::peer
