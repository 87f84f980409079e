// Durations and wall-clock times as people write them in specs and flags.
// Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport {

// "500ms", "45s", "10m", "1h30m", "2d", "1h2m3s500ms": one or more
// <digits><unit> parts, units ms|s|m|h|d, each unit at most once and in that
// descending order (d, h, m, s, ms). A bare "0" is 0. Anything else (negative,
// fractions, spaces, empty, overflow past ~100 years) is INVALID_ARGUMENT
// naming the text.
Result<int64_t> ParseDurationMs(std::string_view text);

// "4m12s", "1h0m5s", "350ms", "0s": the largest units first, zero parts in
// the middle kept, milliseconds only below a second. Negative values get '-'.
std::string FormatDurationMs(int64_t ms);

// RFC 3339 date-time: "2026-12-01T00:00:00Z", "2026-12-01T01:30:00+01:30",
// fractional seconds allowed ("…:00.250Z"), 't'/'z' accepted. Returns Unix
// milliseconds. INVALID_ARGUMENT for anything else (no offset, bad day of
// month incl. leap years, hour 24, etc.).
Result<int64_t> ParseRfc3339Ms(std::string_view text);

// "2026-12-01T00:00:00Z" (UTC; ".250" added only when ms % 1000 != 0).
std::string FormatRfc3339(int64_t unix_ms);

}  // namespace skyport
