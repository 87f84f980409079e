// Which instance of an arm the next connect attempt of a request goes to, and
// whether a failed attempt may be made again. Pure and allocation-free: the
// proxy's worker (router/upstream.cc) keeps the state — a round-robin cursor
// per arm, the requests in flight and the ejection deadline per instance, the
// instances a request already tried — and asks here.
//
// Policy:
//   - an instance already tried by this request is never picked again (only
//     the first 64 of an arm are remembered; beyond, they may be retried)
//   - an ejected instance (it refused a connect within eject_ms) is picked
//     only when every untried one is ejected too
//   - kRoundRobin: the first untried, non-ejected instance from the arm's
//     cursor on; the cursor moves one step per pick, so successive requests
//     start at successive instances
//   - kLeastOutstanding: the one with the fewest requests in flight (from this
//     worker) among the best class above; ties go to the first from the cursor.
//     Among the first kLeastOutstandingWindow untried, non-ejected instances
//     from the cursor only: a pick costs O(window), not O(instances), in an
//     arm of thousands, and the cursor moving one step per pick rotates the
//     window over the whole arm (as Envoy's least-request samples choices)
//   - a pick looks at no more than kPickScanLimit instances from the cursor:
//     in a larger arm whose instances there are all tried or ejected, the
//     best of those is taken (later picks start further on)
//   - an arm with one instance is that instance, ejected or not (there is no
//     other to prefer), and its cursor does not move
#pragma once

#include <cstddef>
#include <cstdint>

namespace skyport::router {

enum class Balance { kRoundRobin, kLeastOutstanding };

inline constexpr size_t kLeastOutstandingWindow = 16;
inline constexpr size_t kPickScanLimit = 256;

// What the picker reads of one instance.
struct InstanceLoad {
  bool ejected = false;
  int outstanding = 0;  // requests in flight to it from this worker
};

// The bit of instance `index` in a request's tried set.
inline uint64_t TriedBit(size_t index) { return index < 64 ? uint64_t{1} << index : 0; }

// The index (0..n-1) of the instance to try next, or -1 when every instance
// was tried. `cursor()` returns the arm's round-robin cursor (uint32_t&); it
// is called, and the cursor advanced, only when there is a choice (n != 1).
// `load_of(i)` returns the InstanceLoad of instance i.
template <typename CursorFn, typename LoadFn>
int PickInstance(Balance balance, size_t n, uint64_t tried, CursorFn&& cursor, LoadFn&& load_of) {
  if (n == 1) return (tried & 1) ? -1 : 0;
  int best = -1;
  int best_load = 0;
  bool best_ejected = true;
  size_t candidates = 0;  // untried, not ejected
  const uint32_t start = cursor()++;
  const size_t scan = n < kPickScanLimit ? n : kPickScanLimit;
  for (size_t k = 0; k < scan; ++k) {
    const size_t i = (start + k) % n;
    if (tried & TriedBit(i)) continue;
    const InstanceLoad load = load_of(i);
    if (!load.ejected && ++candidates > kLeastOutstandingWindow) break;
    const bool better = best < 0 || (best_ejected && !load.ejected) ||
                        (balance == Balance::kLeastOutstanding && load.ejected == best_ejected &&
                         load.outstanding < best_load);
    if (better) {
      best = static_cast<int>(i);
      best_load = load.outstanding;
      best_ejected = load.ejected;
      if (!load.ejected && balance == Balance::kRoundRobin) break;
    }
  }
  return best;
}

// Ejection: an instance that refused a connect is skipped for eject_ms.
inline bool Ejected(int64_t ejected_until_ms, int64_t now_ms) { return ejected_until_ms > now_ms; }
// Ejects (again) from `now_ms`; true when it was not ejected before, so that
// the caller logs when an instance starts being skipped, not on every refusal.
inline bool Eject(int64_t& ejected_until_ms, int64_t now_ms, int eject_ms) {
  const bool started = !Ejected(ejected_until_ms, now_ms);
  ejected_until_ms = now_ms + eject_ms;
  return started;
}

// After an attempt failed before its answer was relayed.
struct RetryDecision {
  bool retry = false;          // send the request again (within the attempts left)
  bool same_instance = false;  // the failed instance may take it again: not marked tried, attempt not counted
};

// Safe to send again: nothing was sent (the connect failed), or the
// connection closed before a byte of the answer to an idempotent request
// without a body (RFC 9110 9.2.2). A reused keep-alive connection that turned
// out closed may go to the same instance again (the pool handed out a stale
// connection); a fresh one means the instance went away with the request in
// flight, so another instance takes it.
inline RetryDecision DecideRetry(bool connect_failure, bool response_started, bool idempotent, bool has_body,
                                 bool reused_connection) {
  RetryDecision d;
  const bool replayable = !response_started && idempotent && !has_body;
  d.retry = (connect_failure || replayable) && !response_started;
  d.same_instance = d.retry && replayable && !connect_failure && reused_connection;
  return d;
}

}  // namespace skyport::router
