#include "rpc/convert.h"

#include "core/problems.h"

namespace skyport::rpc {
namespace {

constexpr size_t kMaxRpcMessageBytes = 4096;

}  // namespace

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // Error messages may echo what a client sent; gRPC refuses trailers over
  // 8 KiB on the receiving side, and nobody reads more than this anyway.
  return {static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
          s.message().size() <= kMaxRpcMessageBytes ? s.message()
                                                     : ClipEcho(s.message(), kMaxRpcMessageBytes, false)};
}

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  return {static_cast<Code>(static_cast<int>(s.error_code())), s.error_message()};
}

}  // namespace skyport::rpc
