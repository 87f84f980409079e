// Per-user capping (winsorization) of a metric's values at analysis time:
// the hub's answer to one user — a browser within its rate limits, or a
// token holder posting server-side values — moving an arm's mean. As
// GrowthBook caps each user's aggregated metric value and Statsig
// winsorizes per-user values at a percentile (99.9 by default), a user's
// total of the event is capped at a percentile of all users' totals; the
// user's values are scaled down together, so that count, sum and sum of
// squares stay consistent moments for the tests. Pure.
#pragma once

#include <cstdint>
#include <vector>

namespace skyport::hub {

// One user's totals of an event (in one bucket, one arm).
struct UserTotals {
  uint64_t count = 0;
  double sum = 0;
  double sum_sq = 0;
};

// How big a user's contribution is: max(|sum|, sqrt(sum_sq)). For values of
// one sign that is |sum|; sqrt(sum_sq) catches +x/-x pairs that cancel in
// the sum but would swamp the variance.
double UserMagnitude(const UserTotals& u);

// The cap: the magnitude at rank floor(percentile / 100 * (n - 1)) of the
// n magnitudes in increasing order (nearest rank, rounding down: with up to
// 1001 users at 99.9 the largest is capped at the second largest, however
// large it is). None (infinity) when percentile >= 100, not a number or
// <= 0, or fewer than 2 users. `magnitudes` is reordered.
double UserCap(std::vector<double>& magnitudes, double percentile);

// Scales the user's values by cap / magnitude when the magnitude exceeds
// `cap`; true when it did.
bool CapUser(UserTotals& u, double cap);

}  // namespace skyport::hub
