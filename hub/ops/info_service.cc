#include "hub/ops/info_service.h"

#include "core/version.h"
#include "rpc/auth.h"

namespace skyport::hub {

grpc::Status InfoService::Info(grpc::ServerContext* ctx, const v1::HubInfoRequest*, v1::HubInfoResponse* resp) {
  if (auto s = rpc::CheckToken(*ctx, o_.token); !s.ok()) return s;
  resp->set_version(VersionLine("hub"));
  resp->set_started_unix_ms(o_.started_unix_ms);
  resp->set_apps(static_cast<uint32_t>(repos_->Apps().size()));
  if (o_.gate == nullptr) {
    resp->set_role("single");
    return grpc::Status::OK;
  }
  resp->set_role(o_.gate->Leading() ? "leader" : "standby");
  resp->set_member(o_.member);
  resp->set_leader_grpc(o_.gate->LeaderGrpc());
  if (o_.members)
    if (auto m = o_.members(); m.ok())
      for (const auto& a : *m) resp->add_members_grpc(a);
  return grpc::Status::OK;
}

}  // namespace skyport::hub
