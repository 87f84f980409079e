#include <chrono>

#include "contract/time_buckets.h"

namespace skyport::router {
namespace {

constexpr int64_t kDay = 86'400;

// Rounds toward negative infinity (C++ division truncates toward zero).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

int64_t BucketStart(int64_t unix_s, Granularity g) {
  switch (g) {
    case Granularity::kHour:
      return FloorDiv(unix_s, 3600) * 3600;
    case Granularity::kDay:
      return FloorDiv(unix_s, kDay) * kDay;
    case Granularity::kWeek:
      // 1970-01-01 was a Thursday: Mondays are days -3, 4, 11, ...
      return (FloorDiv(FloorDiv(unix_s, kDay) + 3, 7) * 7 - 3) * kDay;
    case Granularity::kMonth: {
      using namespace std::chrono;
      const sys_days day{days{FloorDiv(unix_s, kDay)}};
      const year_month_day ymd{day};
      return sys_days{ymd.year() / ymd.month() / 1}.time_since_epoch().count() * kDay;
    }
  }
  return unix_s;
}

std::optional<Granularity> ParseGranularity(std::string_view name) {
  if (name == "hour") return Granularity::kHour;
  if (name == "day") return Granularity::kDay;
  if (name == "week") return Granularity::kWeek;
  if (name == "month") return Granularity::kMonth;
  return std::nullopt;
}

std::string_view GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kHour: return "hour";
    case Granularity::kDay: return "day";
    case Granularity::kWeek: return "week";
    case Granularity::kMonth: return "month";
  }
  return "?";
}

}  // namespace skyport::router
