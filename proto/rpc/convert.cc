#include "rpc/convert.h"

namespace skyport::rpc {

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(static_cast<int>(s.code())), s.message()};
}

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  return {static_cast<Code>(static_cast<int>(s.error_code())), s.error_message()};
}

}  // namespace skyport::rpc
