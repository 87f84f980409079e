#include "rpc/leader.h"

#include "core/address_list.h"

namespace skyport::rpc {

grpc::Status StandbyAnswer(grpc::ServerContext& ctx, const std::string& leader) {
  ctx.AddTrailingMetadata(kStandbyKey, "1");
  if (!leader.empty()) ctx.AddTrailingMetadata(kLeaderKey, leader);
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      leader.empty() ? "this hub is a standby and no leader is known yet"
                                     : "this hub is a standby; the leader is " + leader);
}

std::optional<StandbyRefusal> ReadStandbyRefusal(const grpc::ClientContext& ctx, const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return std::nullopt;
  const auto& md = ctx.GetServerTrailingMetadata();
  if (md.find(kStandbyKey) == md.end()) return std::nullopt;
  StandbyRefusal out;
  auto it = md.find(kLeaderKey);
  if (it != md.end()) {
    std::string leader(it->second.data(), it->second.size());
    if (ValidateAddress(kLeaderKey, leader).ok()) out.leader = std::move(leader);
  }
  return out;
}

}  // namespace skyport::rpc
