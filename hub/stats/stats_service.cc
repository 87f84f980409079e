#include "hub/stats/stats_service.h"

#include <ctime>

#include <fmt/format.h>

#include "core/log.h"
#include "core/prom_text.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::hub {
namespace {

// One log line per 10 s per kind.
bool Due(std::atomic<int64_t>& last_s, int64_t now_s) {
  int64_t last = last_s.load();
  return now_s - last >= 10 && last_s.compare_exchange_strong(last, now_s);
}

}  // namespace

grpc::Status StatsSinkService::Ship(grpc::ServerContext* ctx, const v1::ShipStatsRequest* req,
                                    v1::ShipStatsResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
  const auto now = static_cast<int64_t>(std::time(nullptr));
  if (Status bad = CheckShipBatch(*req, limits_, now); !bad.ok()) {
    ++refused_batches_;
    if (Due(last_refusal_log_s_, now))
      log::Warn("stats batch refused", {{"error", bad.message()}, {"refused_total", refused_batches_.load()}});
    return rpc::ToGrpc(bad);
  }
  auto out = store_->Ship(*req, now);
  if (!out.ok()) {
    if (out.status().code() == Code::kResourceExhausted) {
      ++refused_routers_;
      if (Due(last_router_log_s_, now))
        log::Warn("stats batch refused: too many router ids (--stats-max-routers)",
                  {{"router", req->router().substr(0, 64)}, {"refused_total", refused_routers_.load()}});
    }
    return rpc::ToGrpc(out.status());
  }
  if (out->dropped_event_names + out->dropped_full > 0) {
    dropped_event_names_ += out->dropped_event_names;
    dropped_full_ += out->dropped_full;
    if (Due(last_drop_log_s_, now))
      log::Warn("stats rows dropped: the store is at a bound (--stats-max-event-names, --stats-max-mb)",
                {{"event_names_total", dropped_event_names_.load()}, {"full_total", dropped_full_.load()}});
  }
  if (out->evicted_exposures > 0) {
    evicted_exposures_ += out->evicted_exposures;
    if (Due(last_evict_log_s_, now))
      log::Warn("stats store at --stats-max-mb: exposures of users with no events evicted for new rows",
                {{"evicted_total", evicted_exposures_.load()}});
  }
  resp->set_accepted(out->accepted);
  resp->set_duplicate(out->duplicate);
  return grpc::Status::OK;
}

grpc::Status StatsSinkService::Query(grpc::ServerContext* ctx, const v1::StatsQuery* req, v1::StatsReport* resp) {
  if (auto s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
  auto report = store_->Query(*req, static_cast<int64_t>(std::time(nullptr)));
  if (!report.ok()) return rpc::ToGrpc(report.status());
  *resp = std::move(*report);
  return grpc::Status::OK;
}

std::string StatsSinkService::MetricsText() const {
  PromText out;
  out.Counter("skyport_hub_stats_refused_batches_total", "Stats batches refused INVALID_ARGUMENT (bad rows).",
              refused_batches_.load());
  out.Family("skyport_hub_stats_dropped_rows_total", PromType::kCounter, "Stats rows dropped at a bound of the store.");
  out.Sample("skyport_hub_stats_dropped_rows_total", {{"reason", "event_names"}}, dropped_event_names_.load());
  out.Sample("skyport_hub_stats_dropped_rows_total", {{"reason", "max_bytes"}}, dropped_full_.load());
  out.Counter("skyport_hub_stats_refused_routers_total",
              "Stats batches of a new router id refused at --stats-max-routers.", refused_routers_.load());
  out.Counter("skyport_hub_stats_evicted_exposures_total",
              "Exposures of users with no events evicted (oldest first) for new rows at --stats-max-mb.",
              evicted_exposures_.load());
  return out.Take();
}

}  // namespace skyport::hub
