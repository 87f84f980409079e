// Calendar buckets of experiment data (UTC): the router's event rows are
// per bucket; `skyport stats --by` names one.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace skyport::router {

enum class Granularity { kHour, kDay, kWeek, kMonth };

// Start (unix seconds, UTC) of the bucket holding `unix_s`: the hour, the day,
// the ISO week (Monday 00:00) or the calendar month. Rounds toward the past,
// so times before 1970 work too.
int64_t BucketStart(int64_t unix_s, Granularity g);
// "hour" | "day" | "week" | "month"; nullopt for anything else.
std::optional<Granularity> ParseGranularity(std::string_view name);
std::string_view GranularityName(Granularity g);

}  // namespace skyport::router
