// What a router ships to the hub's StatsSink: the rows of a drain as a
// ShipStatsRequest, and how a large one is cut into parts with ids derived
// from its segment (see the batch_id comment in router.proto). Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "router/events.h"
#include "router/traffic.h"
#include "skyport/v1/router.pb.h"

namespace skyport::router {

// Parts per segment: batch_id = segment << kPartBits | part.
inline constexpr int kPartBits = 10;
inline constexpr size_t kMaxParts = size_t{1} << kPartBits;

inline uint64_t BatchId(uint64_t segment, size_t part) { return segment << kPartBits | part; }

// Appends the rows (moved from) to `out`'s rows and traffic.
void AppendRows(std::vector<UserEventRow>&& rows, std::vector<TrafficRow>&& traffic, v1::ShipStatsRequest& out);

// Rows plus traffic rows of a request.
inline size_t RowCount(const v1::ShipStatsRequest& r) {
  return static_cast<size_t>(r.rows_size()) + static_cast<size_t>(r.traffic_size());
}

// `whole` (router set, rows in order) cut into parts of at most max_rows rows
// — more when max_rows would need over kMaxParts parts — user rows first,
// then traffic rows, order kept; part i has batch_id BatchId(segment, i).
// The same input always gives the same parts, so a part sent again after a
// restart has the id it had. No rows: one empty part.
std::vector<v1::ShipStatsRequest> SplitBatch(const v1::ShipStatsRequest& whole, uint64_t segment, size_t max_rows);

}  // namespace skyport::router
