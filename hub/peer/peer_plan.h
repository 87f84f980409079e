// What hubs send each other about git repositories (hub/peer/), as pure
// functions: which refs differ between two hubs and what to fetch to make
// them agree, and whether a push has enough copies to be acknowledged.
//
// Two ways to sync an app (SyncMode):
//   kMirror: a standby takes the leader's refs as they are: every ref the
//            leader has and it lacks or holds at another id, and the deletion
//            of every ref the leader no longer has (the leader decided
//            fast-forwardness). An app the leader has no repository for is
//            left alone: a leader that lost an app must not erase it from
//            every hub.
//   kUnion:  a new leader, at takeover, takes from a member only the refs it
//            lacks or that differ (never deletions); the shell applies them
//            with the push rules, so only fast-forwards land.
// Each command carries our current id as its old id: the shell moves refs by
// compare-and-swap, so a push replicated meanwhile is never rolled back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hub/git/receive_pack.h"

namespace skyport::hub::peer {

using RefMap = std::map<std::string, std::string>;      // ref name -> 40-hex id
using RepoRefs = std::map<std::string, RefMap>;        // app -> refs

enum class SyncMode { kMirror, kUnion };

struct AppSync {
  std::string app;
  std::vector<PushCommand> commands;  // old = ours (kZeroId: absent), new = theirs (kZeroId: delete)
  std::vector<std::string> wants;     // distinct non-zero new ids (the shell drops those it has)
  std::vector<std::string> haves;     // distinct ids of our refs (what the peer may leave out)
  bool truncated = false;             // more refs differ than max_refs: another round is needed
};

// The apps whose refs differ, in app order; at most `max_refs` commands and
// `max_haves` haves per app (a bound that bites sets `truncated`).
std::vector<AppSync> PlanSync(const RepoRefs& ours, const RepoRefs& theirs, SyncMode mode, size_t max_refs,
                              size_t max_haves);

// The outcome of sending one push to one standby.
struct PeerResult {
  std::string member;  // who (its gRPC address)
  bool ok = false;
  std::string error;   // why not, when !ok
};

struct CopiesDecision {
  bool ok = false;
  int copies = 1;       // the leader's own plus every acknowledging standby
  std::string reason;   // when !ok: "not replicated: 1 of 2 copies (hub a:1: ...)", one line, bounded
};
// Enough copies when 1 + acknowledgements >= min_copies.
CopiesDecision DecideCopies(int min_copies, const std::vector<PeerResult>& results);

// How long the standbys may take to store a push of `pack_bytes`:
// --git-replication-timeout for any push, plus a second per
// kReplicationBytesPerSecond of pack (a 2 GiB push gets ~4.5 more minutes:
// sending, indexing and checking it again takes time on a standby too).
inline constexpr uint64_t kReplicationBytesPerSecond = 8u << 20;
int64_t ReplicationBudgetMs(int64_t timeout_ms, uint64_t pack_bytes);

// --git-min-copies: 0 means the default, 2 with several hubs and 1 (no
// replication) with one; a single hub cannot make more than one copy.
int EffectiveMinCopies(int flag, bool several_hubs);

}  // namespace skyport::hub::peer
