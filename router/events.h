// Custom events (POST /_skyport/events): parsing the body and (in time
// buckets, contract/time_buckets.h) the per-worker aggregation that the router ships to the hub. Pure: no
// sockets, no threads, no clock — the current time is always an argument.
//
// The path of one request: ParseEvents(body) -> for each event
// EventAggregator::Add(scope, ...) ; about once a second the worker calls
// Drain and ships the rows; the hub combines rows of equal key (MergeRows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "contract/time_buckets.h"

namespace skyport::router {

// ---------------------------------------------------------------- parsing

struct EventLimits {
  size_t max_body_bytes = 64 * 1024;  // a larger body -> 413 (checked before parsing)
  size_t max_events = 1000;           // more events in one batch -> 413
  int64_t max_future_s = 3600;        // "time" later than now + this -> 400
  int64_t max_past_s = 31 * 86400;    // "time" earlier than now - this -> 400
  // |value| of an event posted without the token (a browser) is capped to
  // this (winsorised, as GrowthBook's capping): one client cannot decide an
  // arm's mean with one huge value. Trusted (server-side) posts keep theirs.
  double max_value = 1e12;
};

// One event. The views point into the body given to ParseEvents: they are
// valid as long as that body is.
struct ParsedEvent {
  std::string_view name;  // [A-Za-z0-9_.:-]{1,64}
  std::string_view user;  // "" when the event names no user (the caller uses the cookie's)
  double value = 0;       // "value", 0 when absent; the event still counts once
  int64_t unix_s = 0;     // "time" rounded down, or now when absent
};

// Reused across requests by a worker, so that parsing allocates nothing once warm.
struct ParsedEvents {
  std::vector<ParsedEvent> events;
  size_t capped = 0;  // events whose value was capped to max_value
};

struct EventsStatus {
  int http_status = 200;  // 200, 400 (bad event or not JSON) or 413 (too big / too many)
  std::string message;    // "" when ok; else the problem, naming the field
  bool ok() const { return http_status == 200; }
};

// Parses a body of one of these shapes (whitespace as JSON allows):
//   {"event": NAME, "value": NUMBER, "user": ID, "time": UNIX_SECONDS}
//   [EVENT, ...]
//   {"events": [EVENT, ...]}
// "event" is required; the others are optional. Rules:
// - NAME: [A-Za-z0-9_.:-]{1,64}; names starting with '$' are reserved for the
//   router ("$exposure") and refused.
// - value: a JSON number, finite, |value| <= 1e12.
// - user: only when `trusted` (a server-side call with the cluster token);
//   [A-Za-z0-9_.:@-]{1,128} (cookie ids, 32 lowercase hex, are a special case).
// - time: a JSON number of unix seconds (fractions rounded down) within
//   [now - max_past_s, now + max_future_s]; allowed for every caller.
// - no other fields, no field twice, no empty batch. Strings holding escapes
//   are refused where a name or id is expected (no valid one needs them).
// A batch is all or nothing: on failure `out.events` is empty and the status
// names the first problem found scanning left to right:
//   "events[3].value: must be a finite number"  (in a batch)
//   "value: must be a finite number"            (a single event)
//   "body: not JSON at byte 17: expected ':'"
// On success `out.events` holds every event in order.
EventsStatus ParseEvents(std::string_view body, const EventLimits& limits, bool trusted,
                         int64_t now_unix_s, ParsedEvents& out);

// ---------------------------------------------------------------- aggregation

inline constexpr std::string_view kExposureEvent = "$exposure";
// The arm of posted events: not known to the router; the hub counts each
// event for the arm of its user's exposure (see UserEventRow in router.proto).
// Such rows have flight "".
inline constexpr std::string_view kByExposureArm = "$by-exposure";

// What a router ships: totals of one event for one user in one hour (field
// for field the proto's skyport.v1.UserEventRow).
struct UserEventRow {
  std::string app, flight, arm, event, user;
  int64_t hour_unix_s = 0;  // BucketStart(time, kHour)
  uint64_t count = 0;
  double sum = 0;           // of values
  double sum_squares = 0;   // of squared values
  bool operator==(const UserEventRow&) const = default;
};

struct AggregatorLimits {
  // Distinct (app, flight, arm, event, user, hour) keys between two drains;
  // at 200k events/s and a drain a second, 2^18 is never reached by real
  // traffic (~25 MB when full).
  size_t max_keys = 1 << 18;
  // (user, app, flight, arm, hour) remembered for exposure dedup over the
  // current and previous hour (~70 MB when full). Beyond it exposures are
  // still recorded, only no longer deduplicated across drains.
  size_t max_exposure_memory = 1 << 20;
  // The last quarter of max_keys is kept for users the router has served
  // (in the exposure memory): once rows reach 3/4 of max_keys, a new key of
  // any other user (a forged id, a user never seen on a page) is dropped, so
  // that a flood of new ids cannot crowd out real users' events. Off for a
  // journal replay, which has no exposure memory.
  bool reserve_for_exposed = true;
};

// Accumulates events and exposures between drains. One per worker thread;
// not thread-safe. Inputs are trusted to be valid (ParseEvents checked them).
//
// Exposure rows (event "$exposure") always have count 1, sum 0: a user seen
// on an arm in an hour. The aggregator records one per (user, scope, hour)
// however many requests the user makes, and remembers it over the current
// and previous hour so that later drains do not repeat it. Several workers
// or routers may still each send one: MergeRows takes the maximum of
// exposure counts, so the merged count stays 1.
//
// Add/AddExposure return false and record nothing (the caller counts the
// drop) when a new key would exceed max_keys (3/4 of it for a user not in the
// exposure memory, see reserve_for_exposed) — a Drain makes room again —
// or when app, arm, event or user is empty: the hub refuses a batch holding
// such a row, so one must never be shipped. flight may be empty.
class EventAggregator {
 public:
  using ScopeId = uint32_t;

  explicit EventAggregator(AggregatorLimits limits = {});

  // Id of (app, flight, arm), valid until the next Drain (cache it for one
  // request, not longer). None of the three may contain a NUL byte.
  ScopeId Scope(std::string_view app, std::string_view flight, std::string_view arm);

  // Adds one event: count += 1, sum += value, sum_squares += value^2, in the
  // hour of unix_s (which must lie within ±200000 years of 1970). `user` is
  // kept verbatim; 32 lowercase hex (the router's cookie ids) cost no memory.
  bool Add(ScopeId scope, std::string_view event, std::string_view user, double value, int64_t unix_s);
  bool Add(std::string_view app, std::string_view flight, std::string_view arm, std::string_view event,
           std::string_view user, double value, int64_t unix_s) {
    return Add(Scope(app, flight, arm), event, user, value, unix_s);
  }

  // Records that `user` was served by the scope's arm in the hour of unix_s
  // (true also when it was already recorded). `is_new` (optional) is set
  // when this call made a new row: an exposure the router has not recorded
  // since its start (or, beyond max_exposure_memory, since the last drain) —
  // the ones the journal keeps (router/journal.h).
  bool AddExposure(ScopeId scope, std::string_view user, int64_t unix_s, bool* is_new = nullptr);
  bool AddExposure(std::string_view app, std::string_view flight, std::string_view arm,
                   std::string_view user, int64_t unix_s, bool* is_new = nullptr) {
    return AddExposure(Scope(app, flight, arm), user, unix_s, is_new);
  }

  // Appends every row accumulated since the last drain (in no particular
  // order, one per key) to `out` and starts afresh. Scope ids are invalid
  // afterwards; the exposure memory is kept.
  void Drain(std::vector<UserEventRow>& out);

  size_t size() const { return rows_.size(); }  // keys since the last drain

 private:
  // A user as 128 bits: 32-hex ids parsed (kind 0), others interned until the
  // next drain (kind 1) or, in the exposure memory, hashed (kind 2).
  struct UserBits {
    uint64_t hi = 0, lo = 0;
    uint32_t kind = 0;
  };
  struct Key {
    uint64_t user_hi, user_lo;
    uint32_t scope, event;
    int32_t hour;
    uint32_t user_kind;
    bool operator==(const Key&) const = default;
  };
  struct ExposureKey {
    uint64_t user_hi, user_lo;
    uint64_t scope_fp;  // hash of the scope's strings: scope ids do not outlive a drain
    uint32_t user_kind;
    bool operator==(const ExposureKey&) const = default;
  };
  struct Totals {
    uint64_t count = 0;
    double sum = 0, sum_squares = 0;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
    size_t operator()(const ExposureKey& k) const;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Interned = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;
  struct ScopeEntry {
    std::string app, flight, arm;
    uint64_t fp;
    bool complete;  // app and arm non-empty
  };

  // Id of `s` in `table` (names[id] == s); inserts when `may_insert`, else
  // returns kNone for an unknown string.
  static uint32_t Intern(Interned& table, std::vector<std::string>& names, std::string_view s, bool may_insert);
  // Finds or (while fewer than `cap` rows) creates the row of `key`; nullptr when full.
  Totals* Row(const Key& key, size_t cap);
  // The key of `user` in the exposure memory.
  ExposureKey MemoKey(ScopeId scope, std::string_view user) const;
  // How many keys a new row of `user` may find: max_keys for users in the
  // exposure memory, max_keys - reserved_keys for others.
  size_t CapFor(ScopeId scope, std::string_view user) const;
  size_t SoftCap() const { return limits_.reserve_for_exposed ? limits_.max_keys - limits_.max_keys / 4 : limits_.max_keys; }
  // False when `user` is not 32-hex, unknown and !may_insert.
  bool UserKeyFor(std::string_view user, bool may_insert, UserBits& out);
  void RememberExposure(const ExposureKey& key, int32_t hour);

  AggregatorLimits limits_;
  std::unordered_map<Key, Totals, KeyHash> rows_;
  // Cleared by Drain: nothing refers to them once rows_ is empty.
  Interned events_, users_, scope_ids_;  // scope_ids_ keys: "app\0flight\0arm"
  std::vector<std::string> event_names_, user_names_;
  std::vector<ScopeEntry> scopes_;  // by ScopeId
  std::string scope_buf_;           // reused to build scope_ids_ keys without allocating
  // Exposure memory: exposure_hour_ (the latest hour seen) and the one before.
  int32_t exposure_hour_;
  std::unordered_set<ExposureKey, KeyHash> exposed_now_, exposed_before_;
};

// Combines rows of equal (app, flight, arm, event, user, hour_unix_s): counts,
// sums and sums of squares add up — except for kExposureEvent, whose count is
// the maximum. Associative and commutative (sums up to floating-point
// rounding). Returns the rows sorted by that key.
std::vector<UserEventRow> MergeRows(std::vector<UserEventRow> rows);

}  // namespace skyport::router
