#include "router/ship_batch.h"

#include <algorithm>

namespace skyport::router {

void AppendRows(std::vector<UserEventRow>&& rows, std::vector<TrafficRow>&& traffic, v1::ShipStatsRequest& out) {
  out.mutable_rows()->Reserve(out.rows_size() + static_cast<int>(rows.size()));
  for (UserEventRow& r : rows) {
    v1::UserEventRow* p = out.add_rows();
    p->set_app(std::move(r.app));
    p->set_flight(std::move(r.flight));
    p->set_arm(std::move(r.arm));
    p->set_event(std::move(r.event));
    p->set_user(std::move(r.user));
    p->set_hour_unix_s(r.hour_unix_s);
    p->set_count(r.count);
    p->set_sum(r.sum);
    p->set_sum_squares(r.sum_squares);
  }
  for (TrafficRow& t : traffic) {
    v1::TrafficRow* p = out.add_traffic();
    const Counters& c = t.counters;
    p->set_app(std::move(t.app));
    p->set_flight(std::move(t.flight));
    p->set_arm(std::move(t.arm));
    p->set_minute_unix_s(t.minute_unix_s);
    p->set_requests(c.requests);
    p->set_status_1xx(c.status_1xx);
    p->set_status_2xx(c.status_2xx);
    p->set_status_3xx(c.status_3xx);
    p->set_status_4xx(c.status_4xx);
    p->set_status_5xx(c.status_5xx);
    p->set_latency_sum_us(c.latency_sum_us);
    size_t used = c.latency.size();
    while (used > 0 && c.latency[used - 1] == 0) --used;  // trailing zeros need not travel
    for (size_t i = 0; i < used; ++i) p->add_latency_counts(c.latency[i]);
  }
}

std::vector<v1::ShipStatsRequest> SplitBatch(const v1::ShipStatsRequest& whole, uint64_t segment, size_t max_rows) {
  const size_t total = RowCount(whole);
  size_t per_part = std::max<size_t>(max_rows, 1);
  per_part = std::max(per_part, (total + kMaxParts - 1) / kMaxParts);
  const size_t parts = std::max<size_t>(1, (total + per_part - 1) / per_part);
  std::vector<v1::ShipStatsRequest> out(parts);
  const size_t user_rows = static_cast<size_t>(whole.rows_size());
  for (size_t p = 0; p < parts; ++p) {
    v1::ShipStatsRequest& part = out[p];
    part.set_router(whole.router());
    part.set_batch_id(BatchId(segment, p));
    const size_t begin = p * per_part, end = std::min(total, begin + per_part);
    for (size_t i = begin; i < end; ++i) {
      if (i < user_rows)
        *part.add_rows() = whole.rows(static_cast<int>(i));
      else
        *part.add_traffic() = whole.traffic(static_cast<int>(i - user_rows));
    }
  }
  return out;
}

}  // namespace skyport::router
