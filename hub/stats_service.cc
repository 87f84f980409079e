#include "hub/stats_service.h"

#include <ctime>

#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::hub {

grpc::Status StatsSinkService::Ship(grpc::ServerContext* ctx, const v1::ShipStatsRequest* req,
                                    v1::ShipStatsResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
  auto out = store_->Ship(*req);
  if (!out.ok()) return rpc::ToGrpc(out.status());
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

}  // namespace skyport::hub
