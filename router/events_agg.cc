#include <algorithm>
#include <climits>
#include <tuple>

#include "core/hash.h"
#include "router/events.h"

namespace skyport::router {
namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr uint32_t kExposureId = 0;  // event id of "$exposure", interned first
enum UserKind : uint32_t { kHexUser = 0, kInternedUser = 1, kHashedUser = 2 };


// FNV-1a finished with fmix64, for hashing interned strings and user ids.
uint64_t MixedFnv(std::string_view s, uint64_t h = kFnvOffset) { return Fmix64(Fnv1a(s, h)); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// 32 lowercase hex digits -> 128 bits (the router's cookie ids).
bool ParseHex128(std::string_view s, uint64_t& hi, uint64_t& lo) {
  if (s.size() != 32) return false;
  hi = lo = 0;
  for (size_t i = 0; i < 32; ++i) {
    int d = HexDigit(s[i]);
    if (d < 0) return false;
    uint64_t& half = i < 16 ? hi : lo;
    half = (half << 4) | static_cast<uint64_t>(d);
  }
  return true;
}

std::string FormatHex128(uint64_t hi, uint64_t lo) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 15; i >= 0; --i, hi >>= 4) s[i] = kDigits[hi & 15];
  for (int i = 31; i >= 16; --i, lo >>= 4) s[i] = kDigits[lo & 15];
  return s;
}

int32_t HourOf(int64_t unix_s) {
  int64_t h = unix_s / 3600 - (unix_s % 3600 < 0);
  return static_cast<int32_t>(h);
}

}  // namespace

size_t EventAggregator::KeyHash::operator()(const Key& k) const {
  uint64_t a = (uint64_t{k.scope} << 32) | k.event;
  uint64_t b = (uint64_t{static_cast<uint32_t>(k.hour)} << 32) | k.user_kind;
  return Fmix64(k.user_hi ^ Fmix64(k.user_lo ^ Fmix64(a ^ Fmix64(b))));
}

size_t EventAggregator::KeyHash::operator()(const ExposureKey& k) const {
  return Fmix64(k.user_hi ^ Fmix64(k.user_lo ^ Fmix64(k.scope_fp + k.user_kind)));
}

EventAggregator::EventAggregator(AggregatorLimits limits) : limits_(limits), exposure_hour_(INT32_MIN) {
  Intern(events_, event_names_, kExposureEvent, true);
}

uint32_t EventAggregator::Intern(Interned& table, std::vector<std::string>& names, std::string_view s,
                                 bool may_insert) {
  if (auto it = table.find(s); it != table.end()) return it->second;
  if (!may_insert) return kNone;
  auto id = static_cast<uint32_t>(names.size());
  names.emplace_back(s);
  table.emplace(names.back(), id);
  return id;
}

EventAggregator::ScopeId EventAggregator::Scope(std::string_view app, std::string_view flight,
                                                std::string_view arm) {
  scope_buf_.assign(app).append(1, '\0').append(flight).append(1, '\0').append(arm);
  if (auto it = scope_ids_.find(scope_buf_); it != scope_ids_.end()) return it->second;
  auto id = static_cast<ScopeId>(scopes_.size());
  scopes_.push_back({std::string(app), std::string(flight), std::string(arm), MixedFnv(scope_buf_),
                     !app.empty() && !arm.empty()});
  scope_ids_.emplace(scope_buf_, id);
  return id;
}

bool EventAggregator::UserKeyFor(std::string_view user, bool may_insert, UserBits& out) {
  out.kind = kHexUser;
  if (ParseHex128(user, out.hi, out.lo)) return true;
  out.kind = kInternedUser;
  out.hi = 0;
  out.lo = Intern(users_, user_names_, user, may_insert);
  return out.lo != kNone;
}

EventAggregator::Totals* EventAggregator::Row(const Key& key, size_t cap) {
  if (auto it = rows_.find(key); it != rows_.end()) return &it->second;
  if (rows_.size() >= cap) return nullptr;
  return &rows_.emplace(key, Totals{}).first->second;
}

EventAggregator::ExposureKey EventAggregator::MemoKey(ScopeId scope, std::string_view user) const {
  ExposureKey memo{0, 0, scopes_[scope].fp, kHexUser};
  if (!ParseHex128(user, memo.user_hi, memo.user_lo)) {
    memo.user_hi = MixedFnv(user);
    memo.user_lo = MixedFnv(user, 0x84222325cbf29ce4ULL);
    memo.user_kind = kHashedUser;
  }
  return memo;
}

size_t EventAggregator::CapFor(ScopeId scope, std::string_view user) const {
  if (rows_.size() < SoftCap()) return limits_.max_keys;  // no pressure: skip the lookup
  const ExposureKey memo = MemoKey(scope, user);
  return exposed_now_.contains(memo) || exposed_before_.contains(memo) ? limits_.max_keys : SoftCap();
}

bool EventAggregator::Add(ScopeId scope, std::string_view event, std::string_view user, double value,
                          int64_t unix_s) {
  if (!scopes_[scope].complete || event.empty() || user.empty()) return false;
  // A string is interned only when its key may be new, so when full the
  // intern tables stop growing too.
  const size_t cap = CapFor(scope, user);
  const bool room = rows_.size() < cap;
  uint32_t event_id = Intern(events_, event_names_, event, room);
  UserBits u;
  if (event_id == kNone || !UserKeyFor(user, room, u)) return false;
  Totals* t = Row(Key{u.hi, u.lo, scope, event_id, HourOf(unix_s), u.kind}, cap);
  if (t == nullptr) return false;
  t->count += 1;
  t->sum += value;
  t->sum_squares += value * value;
  return true;
}

bool EventAggregator::AddExposure(ScopeId scope, std::string_view user, int64_t unix_s, bool* is_new) {
  if (is_new) *is_new = false;
  if (!scopes_[scope].complete || user.empty()) return false;
  const int32_t hour = HourOf(unix_s);
  const ExposureKey memo = MemoKey(scope, user);
  std::unordered_set<ExposureKey, KeyHash>* memory = nullptr;
  if (hour > exposure_hour_) {
    if (hour == exposure_hour_ + 1) {
      exposed_before_.swap(exposed_now_);
    } else {
      exposed_before_.clear();
    }
    exposed_now_.clear();
    exposure_hour_ = hour;
  }
  if (hour == exposure_hour_) memory = &exposed_now_;
  if (hour == exposure_hour_ - 1) memory = &exposed_before_;  // older hours: rows_ alone dedups
  if (memory != nullptr && memory->contains(memo)) return true;

  // A user new to the memory is not served from the reserve.
  const size_t cap = exposed_now_.contains(memo) || exposed_before_.contains(memo) ? limits_.max_keys : SoftCap();
  UserBits u;
  if (!UserKeyFor(user, rows_.size() < cap, u)) return false;
  Totals* t = Row(Key{u.hi, u.lo, scope, kExposureId, hour, u.kind}, cap);
  if (t == nullptr) return false;
  if (is_new) *is_new = t->count == 0;
  t->count = 1;
  if (memory != nullptr && exposed_now_.size() + exposed_before_.size() < limits_.max_exposure_memory)
    memory->insert(memo);
  return true;
}

void EventAggregator::Drain(std::vector<UserEventRow>& out) {
  if (out.empty()) out.reserve(rows_.size());  // appending to a full vector: let it grow geometrically
  for (const auto& [k, t] : rows_) {
    const ScopeEntry& s = scopes_[k.scope];
    out.push_back(UserEventRow{
        s.app, s.flight, s.arm, event_names_[k.event],
        k.user_kind == kHexUser ? FormatHex128(k.user_hi, k.user_lo) : user_names_[k.user_lo],
        int64_t{k.hour} * 3600, t.count, t.sum, t.sum_squares});
  }
  rows_.clear();
  events_.clear();
  event_names_.clear();
  Intern(events_, event_names_, kExposureEvent, true);
  users_.clear();
  user_names_.clear();
  scope_ids_.clear();
  scopes_.clear();
}

std::vector<UserEventRow> MergeRows(std::vector<UserEventRow> rows) {
  auto key = [](const UserEventRow& r) { return std::tie(r.app, r.flight, r.arm, r.event, r.user, r.hour_unix_s); };
  std::sort(rows.begin(), rows.end(), [&](const UserEventRow& a, const UserEventRow& b) { return key(a) < key(b); });
  std::vector<UserEventRow> out;
  for (UserEventRow& r : rows) {
    if (out.empty() || key(out.back()) != key(r)) {
      out.push_back(std::move(r));
      continue;
    }
    UserEventRow& into = out.back();
    into.count = r.event == kExposureEvent ? std::max(into.count, r.count) : into.count + r.count;
    into.sum += r.sum;
    into.sum_squares += r.sum_squares;
  }
  return out;
}

}  // namespace skyport::router
