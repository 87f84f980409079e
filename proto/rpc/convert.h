// Mapping between skyport::Status and grpc::Status (codes are numbered alike).
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "core/status.h"

namespace skyport::rpc {

// The message is clipped (RpcMessage) so that the peer can always read it.
grpc::Status ToGrpc(const Status& s);
// `message` as a gRPC status carries it: at most 4 KiB, and at most 6 KiB once
// percent-encoded (gRPC refuses trailers over 8 KiB), cut in the middle between
// UTF-8 characters.
std::string RpcMessage(const std::string& message);
Status FromGrpc(const grpc::Status& s);

}  // namespace skyport::rpc
