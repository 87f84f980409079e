#include "rpc/convert.h"

#include "core/problems.h"

namespace skyport::rpc {
namespace {

constexpr size_t kMaxRpcMessageBytes = 4096;
// gRPC sends the message percent-encoded in a trailer (every byte outside
// printable ASCII, and '%', takes three) and the receiving side refuses
// trailers over 8 KiB: the CLI then shows the transport's complaint instead of
// the error. This leaves room for the other trailers.
constexpr size_t kMaxEncodedBytes = 6144;

size_t EncodedSize(std::string_view m) {
  size_t n = 0;
  for (char c : m) {
    const auto u = static_cast<unsigned char>(c);
    n += (u < 0x20 || u > 0x7e || u == '%') ? 3 : 1;
  }
  return n;
}

}  // namespace

std::string RpcMessage(const std::string& message) {
  if (message.size() <= kMaxRpcMessageBytes && EncodedSize(message) <= kMaxEncodedBytes) return message;
  // The cut keeps the start and the end (ClipEcho); a mostly non-ASCII text
  // gets a third of the bytes.
  std::string clipped = ClipEcho(message, kMaxRpcMessageBytes, false);
  if (EncodedSize(clipped) <= kMaxEncodedBytes) return clipped;
  return ClipEcho(message, kMaxEncodedBytes / 3 - 64, false);
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(static_cast<int>(s.code())), RpcMessage(s.message())};
}

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  return {static_cast<Code>(static_cast<int>(s.error_code())), s.error_message()};
}

}  // namespace skyport::rpc
