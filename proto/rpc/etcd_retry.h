// What to do after an etcd call failed: the retry decision table, pure.
//
// Reads (and keep-alives, lease time-to-live: asking again changes nothing)
// are retried after any failure that is not etcd's definite answer. Writes are
// retried only when the request provably never reached etcd, as etcd's Go
// client does (clientv3 isSafeRetryMutableRPC: only "no connection to pick"),
// plus the answers etcd gives before it proposes a request to raft ("no
// leader" from the has-leader check, "too many requests", a stale auth
// token): after those nothing was applied. Any other failure of a write leaves
// its outcome unknown, and the caller must be told so.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/backoff.h"
#include "core/status.h"

namespace skyport::etcd {

enum class OpKind { kRead, kWrite };

enum class Next {
  kDone,            // final: hand the error to the caller as it is
  kRetry,           // send again (after `backoff`, on the next endpoint if `fail_over`)
  kRenewToken,      // authenticate again, then send again
  kUnknownOutcome,  // a write that may have been applied: tell the caller
};

struct RetryDecision {
  Next next = Next::kDone;
  bool fail_over = false;  // the endpoint is at fault: move to the next one
  bool backoff = false;    // wait before the next attempt (etcd is busy or electing)
};

// True when gRPC failed the call before any byte of it left: no connection
// could be picked (the channel is not connected, or the name did not resolve).
bool NeverSent(Code code, std::string_view message);

// True for etcd's answers that mean "ask again later, maybe elsewhere".
bool TransientEtcdError(Code code, std::string_view message);

// True for etcd's answers that a new auth token fixes.
bool StaleToken(Code code, std::string_view message);

// `token_renewed`: this call already renewed its token once, or the client
// has no credentials to renew it with (a stale token answer is then final:
// the credentials themselves are wrong or missing).
RetryDecision DecideRetry(OpKind kind, Code code, std::string_view message, bool token_renewed);

// A hint for the operator after a final error, or "" (etcd wants
// credentials the client was not given: name the flags).
std::string_view Hint(Code code, std::string_view message, bool has_credentials);

// Between attempts: none when moving to another endpoint for the first time
// in a round (it may well be healthy), else exponential from 50 ms to 1 s.
inline constexpr BackoffPolicy kEtcdRetryBackoff{50, 1000, 2.0, 0.2};
int64_t RetryDelayMs(const RetryDecision& d, int attempt, int endpoints, double uniform01);

}  // namespace skyport::etcd
