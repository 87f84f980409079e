#include "core/timefmt.h"

#include <fmt/format.h>

namespace skyport {
namespace {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kMinuteMs = 60 * kSecondMs;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
// About a century: far past any sensible wait, far below int64 overflow.
constexpr int64_t kMaxDurationMs = 36525 * kDayMs;

bool Digit(char c) { return c >= '0' && c <= '9'; }

Status BadDuration(std::string_view text) {
  return Status::InvalidArgument(fmt::format("\"{}\" is not a duration like 500ms, 45s, 10m, 1h30m or 2d", text));
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y = yoe + era * 400 + (m <= 2);
}

int DaysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos` into `out`.
bool Fixed(std::string_view s, size_t pos, size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!Digit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

Result<int64_t> ParseDurationMs(std::string_view text) {
  if (text == "0") return int64_t{0};
  if (text.empty()) return BadDuration(text);
  // Units in the only order allowed; each index may be used once, going down.
  static constexpr std::string_view kUnits[] = {"d", "h", "m", "s", "ms"};
  static constexpr int64_t kUnitMs[] = {kDayMs, kHourMs, kMinuteMs, kSecondMs, 1};
  int next_unit = 0;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    const size_t start = i;
    for (; i < text.size() && Digit(text[i]); ++i) {
      if (i - start >= 15) return BadDuration(text);  // overflow guard; far over the limit anyway
      n = n * 10 + (text[i] - '0');
    }
    if (i == start || i == text.size()) return BadDuration(text);
    int unit = -1;
    if (text[i] == 'm' && i + 1 < text.size() && text[i + 1] == 's') {
      unit = 4;
    } else {
      for (int u = 0; u < 4; ++u)
        if (text[i] == kUnits[u][0]) unit = u;
    }
    if (unit < next_unit) return BadDuration(text);  // unknown, repeated or out of order
    i += kUnits[unit].size();
    next_unit = unit + 1;
    if (n > kMaxDurationMs / kUnitMs[unit]) return BadDuration(text);
    total += n * kUnitMs[unit];
    if (total > kMaxDurationMs) return BadDuration(text);
  }
  return total;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) {
    // -INT64_MIN overflows; no duration is that long anyway.
    if (ms == INT64_MIN) ms = INT64_MIN + 1;
    return fmt::format("-{}", FormatDurationMs(-ms));
  }
  if (ms < kSecondMs) return ms == 0 ? "0s" : fmt::format("{}ms", ms);
  std::string out;
  const int64_t parts[] = {ms / kDayMs, ms % kDayMs / kHourMs, ms % kHourMs / kMinuteMs, ms % kMinuteMs / kSecondMs};
  static constexpr const char* kUnits[] = {"d", "h", "m", "s"};
  int last = 3;
  while (parts[last] == 0) --last;  // ms >= 1s: some part is non-zero
  for (int u = 0; u <= last; ++u)
    if (!out.empty() || parts[u] != 0) out += fmt::format("{}{}", parts[u], kUnits[u]);
  return out;
}

Result<int64_t> ParseRfc3339Ms(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("\"{}\" is not an RFC 3339 time like 2026-12-01T00:00:00Z: {}", s, why));
  };
  int64_t year, month, day, hour, minute, second;
  if (!Fixed(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !Fixed(s, 5, 2, month) || s[7] != '-' ||
      !Fixed(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') || !Fixed(s, 11, 2, hour) || s[13] != ':' ||
      !Fixed(s, 14, 2, minute) || s[16] != ':' || !Fixed(s, 17, 2, second))
    return bad("expected YYYY-MM-DDTHH:MM:SS");
  if (month < 1 || month > 12) return bad("no such month");
  if (day < 1 || day > DaysInMonth(year, month)) return bad("no such day in that month");
  if (hour > 23 || minute > 59 || second > 59) return bad("no such time of day");
  size_t i = 19;
  int64_t ms = 0;
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    int64_t scale = 100;
    for (; i < s.size() && Digit(s[i]); ++i, scale /= 10) ms += (s[i] - '0') * scale;  // truncated to ms
    if (i == start) return bad("empty fraction of a second");
  }
  if (i >= s.size()) return bad("missing offset (Z or +HH:MM)");
  int64_t offset_min = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int64_t oh, om;
    if (!Fixed(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !Fixed(s, i + 4, 2, om))
      return bad("bad offset (Z or +HH:MM)");
    if (oh > 23 || om > 59) return bad("bad offset (Z or +HH:MM)");
    offset_min = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
    i += 6;
  } else {
    return bad("bad offset (Z or +HH:MM)");
  }
  if (i != s.size()) return bad("trailing text");
  const int64_t secs = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return (secs - offset_min * 60) * kSecondMs + ms;
}

std::string FormatRfc3339(int64_t unix_ms) {
  int64_t days = unix_ms / kDayMs, rem = unix_ms % kDayMs;
  if (rem < 0) rem += kDayMs, --days;
  int64_t y, m, d;
  CivilFromDays(days, y, m, d);
  const int64_t ms = rem % kSecondMs;
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, rem / kHourMs,
                                rem % kHourMs / kMinuteMs, rem % kMinuteMs / kSecondMs);
  if (ms != 0) out += fmt::format(".{:03}", ms);
  return out + "Z";
}

}  // namespace skyport
