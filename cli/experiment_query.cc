#include "cli/experiment_query.h"

#include <cctype>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/timefmt.h"
#include "contract/time_buckets.h"

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

// YYYY-MM-DD, optionally followed by [Tt ]HH:MM:SS[.frac](Z|±HH:MM): core's
// RFC 3339 parser, plus a bare UTC date, a space for the 'T' and a leap second.
std::optional<int64_t> ParseTime(std::string_view s) {
  std::string text(s);
  if (text.size() == 10) text += "T00:00:00Z";  // a UTC date
  if (text.size() > 10 && text[10] == ' ') text[10] = 'T';
  int64_t leap = 0;  // RFC 3339 allows second 60; core does not: count it as the next second
  if (text.size() > 18 && text.compare(17, 2, "60") == 0) {
    text.replace(17, 2, "59");
    leap = 1;
  }
  auto ms = ParseRfc3339Ms(text);
  if (!ms.ok()) return std::nullopt;
  // Fractions of a second do not matter at hourly rows: floor to the second.
  return (*ms >= 0 ? *ms / 1000 : -((-*ms + 999) / 1000)) + leap;
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
