// Token authentication for every RPC: the client sends
// `authorization: Bearer <token>`; servers compare in constant time.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace skyport::rpc {

// OK, or UNAUTHENTICATED saying what was missing (never echoing the token).
grpc::Status CheckToken(const grpc::ServerContextBase& ctx, const std::string& token);

void AttachToken(grpc::ClientContext& ctx, const std::string& token);

}  // namespace skyport::rpc
