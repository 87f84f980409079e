#include "cli/experiment_query.h"

#include <cctype>
#include <chrono>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "router/events.h"

namespace skyport::cli {
namespace {

constexpr int64_t kHour = 3600;
constexpr uint64_t kMaxNumber = 1'000'000'000'000;  // far beyond any useful range; no overflow below

Status SinceError(const std::string& since, std::string_view why) {
  return Status::InvalidArgument(fmt::format("since: {}: {}", since, why));
}

// Seconds in one NUMBER UNIT pair after another ("1h30m"); nullopt unless the
// whole text is such pairs.
std::optional<uint64_t> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    uint64_t n = 0;
    const size_t start = i;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      n = n * 10 + static_cast<uint64_t>(s[i] - '0');
      if (n > kMaxNumber) return std::nullopt;
    }
    if (i == start || i == s.size()) return std::nullopt;
    uint64_t unit = 0;
    switch (s[i++]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = kHour; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 7 * 86400; break;
      default: return std::nullopt;
    }
    total += n * unit;
    if (total > kMaxNumber * 7) return std::nullopt;
  }
  return total;
}

// `n` digits at s[pos], advancing pos; -1 if they are not there.
int Digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool Expect(std::string_view s, size_t& pos, std::string_view chars) {
  if (pos >= s.size() || chars.find(s[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

// YYYY-MM-DD, optionally followed by [Tt ]HH:MM:SS[.frac](Z|±HH:MM).
std::optional<int64_t> ParseTime(std::string_view s) {
  size_t pos = 0;
  const int y = Digits(s, pos, 4);
  if (y < 0 || !Expect(s, pos, "-")) return std::nullopt;
  const int mo = Digits(s, pos, 2);
  if (mo < 0 || !Expect(s, pos, "-")) return std::nullopt;
  const int d = Digits(s, pos, 2);
  if (d < 0) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                         std::chrono::day(static_cast<unsigned>(d))};
  if (!date.ok()) return std::nullopt;
  int64_t t = int64_t{std::chrono::sys_days(date).time_since_epoch().count()} * 86400;
  if (pos == s.size()) return t;

  if (!Expect(s, pos, "Tt ")) return std::nullopt;
  const int h = Digits(s, pos, 2);
  if (h < 0 || h > 23 || !Expect(s, pos, ":")) return std::nullopt;
  const int mi = Digits(s, pos, 2);
  if (mi < 0 || mi > 59 || !Expect(s, pos, ":")) return std::nullopt;
  const int sec = Digits(s, pos, 2);
  if (sec < 0 || sec > 60) return std::nullopt;  // 60: a leap second
  t += h * kHour + mi * 60 + sec;
  if (Expect(s, pos, ".")) {  // fractions of a second do not matter at hourly rows
    const size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == start) return std::nullopt;
  }
  if (Expect(s, pos, "Zz")) return pos == s.size() ? std::optional<int64_t>(t) : std::nullopt;
  if (pos >= s.size()) return std::nullopt;
  const int sign = s[pos] == '-' ? -1 : 1;
  if (!Expect(s, pos, "+-")) return std::nullopt;
  const int oh = Digits(s, pos, 2);
  if (oh < 0 || oh > 23 || !Expect(s, pos, ":")) return std::nullopt;
  const int om = Digits(s, pos, 2);
  if (om < 0 || om > 59 || pos != s.size()) return std::nullopt;
  return t - sign * (oh * kHour + om * 60);
}

bool ValidEventName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' && c != '-') return false;
  return true;
}

}  // namespace

Result<int64_t> ParseSince(const std::string& since, int64_t now_unix_s) {
  if (since.empty()) return int64_t{0};
  int64_t from = 0;
  if (auto d = ParseDuration(since)) {
    if (*d == 0) return SinceError(since, "must be longer than 0");
    if (*d > static_cast<uint64_t>(now_unix_s)) return SinceError(since, "reaches back before 1970");
    from = now_unix_s - static_cast<int64_t>(*d);
  } else if (auto t = ParseTime(since)) {
    if (*t < 0) return SinceError(since, "is before 1970");
    if (*t > now_unix_s) return SinceError(since, "is in the future");
    from = *t;
  } else {
    return SinceError(since, "expected a duration (24h, 7d, 1h30m), an RFC 3339 time (2024-05-01T13:00:00Z) "
                             "or a date (2024-05-01)");
  }
  return from - from % kHour;
}

Result<v1::StatsQuery> MakeStatsQuery(const std::string& app, const ExperimentOptions& o, int64_t now_unix_s) {
  if (!o.by.empty() && !router::ParseGranularity(o.by))
    return Status::InvalidArgument(fmt::format("by: {}: must be hour, day, week or month", o.by));
  if (!o.event.empty() && !ValidEventName(o.event))
    return Status::InvalidArgument(
        fmt::format("event: {}: must be 1 to 64 of A-Z a-z 0-9 _ . : - (no $: those are the router's)", o.event));
  auto from = ParseSince(o.since, now_unix_s);
  if (!from.ok()) return from.status();
  v1::StatsQuery q;
  q.set_app(app);
  q.set_flight(o.flight);
  q.set_event(o.event);
  q.set_by(o.by);
  q.set_from_unix_s(*from);
  return q;
}

std::string FormatUtc(int64_t unix_s) {
  using namespace std::chrono;
  const sys_seconds t{seconds(unix_s)};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count());
}

}  // namespace skyport::cli
