// What `skyport stats` asks the hub for its experiment table: the flags
// --event, --flight, --by and --since turned into a StatsQuery. Pure: the
// current time comes in as `now_unix_s`.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "skyport/v1/router.pb.h"

namespace skyport::cli {

struct ExperimentOptions {
  std::string event;    // the conversion/value event; "" = exposures only
  std::string flight;   // "" = traffic outside flights
  std::string by;       // "" (one table for the whole range) | hour | day | week | month
  std::string since;    // "" (all) | DURATION | RFC 3339 time | YYYY-MM-DD; see ParseSince
  std::string control;  // the control arm or a prefix of it; "" = chosen (experiment_table.h)
};

// The start of the range --since names, in Unix seconds, rounded down to the
// UTC hour (the hub keeps hourly rows, and an hour counts only when it starts
// inside the range); 0 for "" (from the beginning). Accepts
//   a duration back from now: one or more NUMBER UNIT, units s m h d w
//     ("24h", "7d", "1h30m");
//   an RFC 3339 time: "2024-05-01T13:00:00Z", "2024-05-01T15:00:00.5+02:00"
//     ('t', 'z' and a space for 'T' too);
//   a UTC date: "2024-05-01".
// INVALID_ARGUMENT "since: ..." for anything else, a zero duration, a time
// before 1970 or after now.
Result<int64_t> ParseSince(const std::string& since, int64_t now_unix_s);

// The query for `app`: flight and event as given, `by` checked, from_unix_s
// from ParseSince, to_unix_s 0 (the hub's now, so that a skewed client clock
// does not cut off the current hour). INVALID_ARGUMENT naming the flag for a
// bad --by, --since or --event (events are [A-Za-z0-9_.:-]{1,64}).
Result<v1::StatsQuery> MakeStatsQuery(const std::string& app, const ExperimentOptions& o, int64_t now_unix_s);

// "2024-05-01T13:00:00Z".
std::string FormatUtc(int64_t unix_s);

}  // namespace skyport::cli
