// The bounds StatsSink.Ship checks a batch against before anything is
// stored: like any input from the network, a batch of experiment rows is
// refused whole (INVALID_ARGUMENT naming the first problem, its echo capped)
// when a row could not have come from a well-behaved router. Pure: the time
// is an argument.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "skyport/v1/router.pb.h"

namespace skyport::hub {

struct ShipLimits {
  size_t max_rows = 50'000;               // user + traffic rows per batch (routers send <= 5000)
  int64_t max_past_s = 40 * 86400;        // an hour or minute older than now - this is refused
  int64_t max_future_s = 2 * 3600;        // ... or later than now + this (clock skew)
  uint64_t max_count = 1'000'000'000;     // events of one user, event and hour; requests of one arm and minute
  double max_abs_value = 1e12;            // |value| of an event (router/events.h); sums are bounded by count * it
};

// OK, or INVALID_ARGUMENT: "rows[3].user: must match [A-Za-z0-9_.:@-]{1,128} (got \"...\")",
// "rows: 60000 rows in one batch, at most 50000", "traffic[0].minute_unix_s: ...".
// Names: app [a-z0-9][a-z0-9-]{0,62}; flight "" or [A-Za-z0-9._-]{1,64}; arm
// [A-Za-z0-9._-]{1,64}; event [A-Za-z0-9_.:-]{1,64}, or "$exposure" /
// "$requests"; user [A-Za-z0-9_.:@-]{1,128}; router id 1..128 printable
// ASCII. Exposure rows have count 1 and no values.
// Traffic rows: requests equal to the status classes summed, at most
// kLatencyBuckets latency counts, none above the requests.
Status CheckShipBatch(const v1::ShipStatsRequest& req, const ShipLimits& limits, int64_t now_unix_s);

// The same checks without the time window and the row count (default
// ShipLimits otherwise): what every stored row must be, whoever ships it.
// StatsStore::Ship refuses a batch that fails them (the one copy of these
// checks: the service runs CheckShipBatch first).
Status CheckShipRows(const v1::ShipStatsRequest& req);

}  // namespace skyport::hub
