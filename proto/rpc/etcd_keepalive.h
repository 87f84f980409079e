// Lease keep-alives over one shared LeaseKeepAlive stream per client.
//
// Every Client::LeaseKeepAlive is one request on the stream; etcd answers in
// order per lease, so an answer goes to every caller waiting on that lease id.
// A stream that breaks (or leaves a request unanswered past its attempt
// timeout: a hung member) is dropped and its waiting requests are sent again
// on a new stream to the next endpoint, until each one's deadline.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "rpc/etcd_client.h"

namespace skyport::etcd {

class KeepAliveMux {
 public:
  explicit KeepAliveMux(Client::Impl* impl) : impl_(impl) {}
  // `self` is the owner of this mux (kept alive by the calls in flight).
  void KeepAlive(std::shared_ptr<Client::Impl> self, int64_t lease_id, Done<etcdserverpb::LeaseKeepAliveResponse> done);
  // Cancels the stream; waiting requests fail with CANCELLED.
  void Shutdown();

  class Stream;
  struct Waiter;
  // Called by the stream (etcd_keepalive.cc).
  void OnAnswer(uint64_t gen, size_t endpoint, const etcdserverpb::LeaseKeepAliveResponse& resp);
  void OnStreamDone(uint64_t gen, size_t endpoint, const grpc::Status& status);

 private:
  void Send(std::shared_ptr<Waiter> w);
  void ArmAttemptTimer(std::shared_ptr<Waiter> w);
  // After a failure of `w` on `endpoint`: send again, renew the token, or finish.
  void Retry(const std::shared_ptr<Waiter>& w, size_t endpoint, Code code, const std::string& msg);
  void Finish(const std::shared_ptr<Waiter>& w, Result<etcdserverpb::LeaseKeepAliveResponse> r);

  Client::Impl* impl_;
  std::mutex mu_;
  Stream* stream_ = nullptr;  // guarded by mu_; deletes itself after OnStreamDone
  uint64_t gen_ = 0;          // guarded by mu_: the current stream's number
  bool shutdown_ = false;     // guarded by mu_
  std::multimap<int64_t, std::shared_ptr<Waiter>> pending_;  // guarded by mu_: sent, unanswered
};

}  // namespace skyport::etcd
