#include "rpc/auth.h"

#include "core/token.h"

namespace skyport::rpc {

grpc::Status CheckToken(const grpc::ServerContextBase& ctx, const std::string& token) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end())
    return {grpc::StatusCode::UNAUTHENTICATED,
            "missing cluster token: pass --token-file or set SKYPORT_TOKEN"};
  std::string_view got(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (got.substr(0, kBearer.size()) != kBearer ||
      !ConstantTimeEquals(got.substr(kBearer.size()), token))
    return {grpc::StatusCode::UNAUTHENTICATED, "wrong cluster token"};
  return grpc::Status::OK;
}

void AttachToken(grpc::ClientContext& ctx, const std::string& token) {
  ctx.AddMetadata("authorization", "Bearer " + token);
}

}  // namespace skyport::rpc
