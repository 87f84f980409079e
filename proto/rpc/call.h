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

}  // namespace skyport::rpc
