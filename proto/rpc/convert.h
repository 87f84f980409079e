// Mapping between skyport::Status and grpc::Status (codes are numbered alike).
#pragma once

#include <grpcpp/grpcpp.h>

#include "core/status.h"

namespace skyport::rpc {

grpc::Status ToGrpc(const Status& s);
Status FromGrpc(const grpc::Status& s);

}  // namespace skyport::rpc
