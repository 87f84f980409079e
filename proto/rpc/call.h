// Client calls with the cluster token and a deadline; gRPC errors become Status.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::rpc {

// Attaches the token; a deadline `timeout_ms` from now unless it is <= 0.
// `wait_for_peer` (daemons' background loops): while the peer is away the
// call waits, up to its deadline, for the channel to reconnect instead of
// failing at once, so it goes out as soon as the peer is back (within the
// channel's reconnect backoff, see Dial) and the loop cannot spin. Commands
// a user waits for keep failing fast.
inline void PrepareContext(grpc::ClientContext& ctx, const std::string& token, int64_t timeout_ms,
                           bool wait_for_peer = false) {
  AttachToken(ctx, token);
  if (timeout_ms > 0) ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  if (wait_for_peer) ctx.set_wait_for_ready(true);
}

// One unary call: `(stub.*method)(ctx, req, &resp)`.
template <class Resp, class Stub, class Method, class Req>
Result<Resp> UnaryCall(Stub& stub, Method method, const Req& req, const std::string& token, int64_t timeout_ms,
                       bool wait_for_peer = false) {
  grpc::ClientContext ctx;
  PrepareContext(ctx, token, timeout_ms, wait_for_peer);
  Resp resp;
  grpc::Status st = (stub.*method)(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st);
  return resp;
}

// Reads a server stream to its end, calling `on_message(msg)` for each
// message; when it returns false the call is cancelled (and the stream
// drained, as Finish needs). Returns Finish's status.
template <class Msg, class Reader, class OnMessage>
grpc::Status ReadStream(grpc::ClientContext& ctx, Reader& reader, OnMessage&& on_message) {
  Msg msg;
  while (reader.Read(&msg)) {
    if (!on_message(msg)) {
      ctx.TryCancel();
      while (reader.Read(&msg)) {
      }
      break;
    }
  }
  return reader.Finish();
}

}  // namespace skyport::rpc
