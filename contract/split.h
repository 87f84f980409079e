// Arm assignment for split tests: which commit a user sees.
//
// [0,1) is cut into fixed slices owned by arms (commits), in units of
// 1/kSliceUnits. A user's position is a stable hash of (user id, split id):
// the same on every router, across restarts and versions of Skyport (the
// hash is frozen by golden-value tests). Changing weights with Rebalance moves
// only the users whose slices changed hands: an arm that grows takes slices
// from arms that shrink, and nothing else moves. A new split id re-deals
// everyone, since the position depends on it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::router {

inline constexpr uint32_t kSliceUnits = 1'000'000;

struct Slice {
  std::string commit;
  uint32_t ge = 0;  // inclusive
  uint32_t lt = 0;  // exclusive
  bool operator==(const Slice&) const = default;
};

// Contiguous slices in the order given, sized by weight (largest remainder, so
// the sizes sum to exactly kSliceUnits). Zero-weight arms get no slice. Empty
// or all-zero weights -> empty layout.
std::vector<Slice> LayoutFresh(const std::vector<std::pair<std::string, uint32_t>>& weights);

// The layout for `weights` that moves the fewest positions from `old`:
// arms above their new share give up their highest positions first; arms
// below it (and new arms, in commit order) take the freed ranges, lowest
// first. Arms absent from `weights` (or weight 0) give up everything.
// The result is sorted by `ge`, adjacent slices of one arm merged, covering
// [0, kSliceUnits) exactly (empty if every weight is 0).
// INVALID_ARGUMENT if `old` is not a valid layout (see ValidateLayout) — an
// empty `old` is valid and gives LayoutFresh in commit order.
Result<std::vector<Slice>> Rebalance(const std::vector<Slice>& old, const std::map<std::string, uint32_t>& weights);

// OK if `slices` is empty, or sorted, non-empty, non-overlapping, and covering
// [0, kSliceUnits) exactly. Names the first problem.
Status ValidateLayout(const std::vector<Slice>& slices);

// Share of each commit in a layout, in slice units.
std::map<std::string, uint32_t> LayoutShares(const std::vector<Slice>& slices);

// Share of [0, kSliceUnits) whose owner differs between two layouts, in
// [0, 1]: the users a change of layout moves to another arm (same split id).
// A position owned in one layout and not in the other (e.g. `old` empty)
// counts as moved.
double MovedFraction(const std::vector<Slice>& old_layout, const std::vector<Slice>& new_layout);

// Stable position of a user in [0, kSliceUnits). Frozen (golden values in
// tests/unit/router_split_test.cc): h = 64-bit FNV-1a over the bytes of
// split_id, one 0x1f byte, then user_id; h = murmur3 fmix64(h); the position
// is (h * kSliceUnits) >> 64 in 128-bit arithmetic.
uint32_t UserPosition(std::string_view user_id, std::string_view split_id);

// The legacy (unsigned) cookie value: "<user id>.<split id>", cut at the
// first '.'. Routers now issue signed values (router/user_cookie.h) and
// accept this form only during a migration window.
// User ids are 32 lowercase hex characters; split ids are
// [A-Za-z0-9._-]{1,64} (the registry's rule; '.' is allowed since user ids
// never hold one).
struct UserCookie {
  std::string_view user_id;
  std::string_view split_id;
};
std::optional<UserCookie> ParseUserCookie(std::string_view value);
bool ValidUserId(std::string_view id);
bool ValidSplitId(std::string_view id);

}  // namespace skyport::router
