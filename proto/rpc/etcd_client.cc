// Client: the unary calls, each one a small retrying state machine (UnaryCall).
#include "rpc/etcd_client.h"

#include <chrono>
#include <future>
#include <thread>

#include "rpc/etcd_client_impl.h"
#include "rpc/etcd_keepalive.h"
#include "rpc/etcd_retry.h"

namespace skyport::etcd {
namespace {

using Conn = Client::Impl::Conn;

// One call until its outcome: attempts on the current endpoint, retried as
// etcd_retry.h decides, within the call's deadline.
template <class Req, class Resp>
class UnaryCall : public std::enable_shared_from_this<UnaryCall<Req, Resp>> {
 public:
  using Send = std::function<void(Conn&, grpc::ClientContext*, const Req*, Resp*, std::function<void(grpc::Status)>)>;

  UnaryCall(std::shared_ptr<Client::Impl> impl, const char* op, OpKind kind, Send send, Req req, Done<Resp> done)
      : impl_(std::move(impl)),
        op_(op),
        kind_(kind),
        send_(std::move(send)),
        req_(std::move(req)),
        done_(std::move(done)) {
    deadline_ms_ = NowMs() + impl_->options().request_timeout_ms;
  }

  void Attempt() {
    size_t at = impl_->Current();
    if (impl_->auth_enabled() && !impl_->HasToken()) {
      auto self = this->shared_from_this();
      impl_->RenewToken(at, false, [self, at](Status s) {
        if (s.ok()) return self->Attempt();
        // Authenticate changes nothing: retried like a read.
        self->OnFailure(at, OpKind::kRead, s.code(), s.message());
      });
      return;
    }
    ctx_ = std::make_unique<grpc::ClientContext>();
    impl_->Prepare(*ctx_, AttemptDeadline());
    resp_ = Resp();
    auto self = this->shared_from_this();
    send_(impl_->conn(at), ctx_.get(), &req_, &resp_, [self, at](grpc::Status st) {
      if (st.ok()) {
        self->impl_->Answered(at);
        return self->Finish(std::move(self->resp_));
      }
      self->OnFailure(at, self->kind_, static_cast<Code>(st.error_code()), st.error_message());
    });
  }

 private:
  // Writes get the whole remaining time (a second attempt is rarely
  // allowed); reads a share of it, so that a hung member leaves time to ask
  // another one.
  int64_t AttemptDeadline() const {
    const Options& o = impl_->options();
    if (kind_ == OpKind::kWrite || impl_->size() < 2) return deadline_ms_;
    return std::min(deadline_ms_, NowMs() + std::max(o.dial_timeout_ms, o.request_timeout_ms / 3));
  }

  void OnFailure(size_t at, OpKind kind, Code code, const std::string& msg) {
    std::string where = impl_->Where(op_, at);
    if ((code == Code::kResourceExhausted && msg.find("larger than max") != std::string::npos)) {
      impl_->CountOversized(op_, msg);
      return Finish(Status(code, where + msg + " (page large reads with RangeRequest.limit)"));
    }
    RetryDecision d = DecideRetry(kind, code, msg, token_renewed_ || !impl_->auth_enabled());
    if (d.fail_over) impl_->FailOver(at, op_, msg);
    switch (d.next) {
      case Next::kDone:
        return Finish(Status(code, where + msg + std::string(Hint(code, msg, impl_->auth_enabled()))));
      case Next::kUnknownOutcome:
        return Finish(Status::Unavailable(where + msg +
                                          " (the outcome is unknown: the request may have been applied; read back)"));
      case Next::kRenewToken: {
        token_renewed_ = true;
        auto self = this->shared_from_this();
        return impl_->RenewToken(at, true, [self, at](Status s) {
          if (s.ok()) return self->Attempt();
          self->OnFailure(at, OpKind::kRead, s.code(), s.message());
        });
      }
      case Next::kRetry:
        break;
    }
    int64_t delay = RetryDelayMs(d, attempt_++, static_cast<int>(impl_->size()), impl_->Uniform());
    if (NowMs() + delay >= deadline_ms_) {
      Code out = code == Code::kDeadlineExceeded ? code : Code::kUnavailable;
      return Finish(Status(out, where + msg + " (gave up after " + std::to_string(attempt_) +
                                    " attempts within the request timeout)"));
    }
    impl_->CountRetry(op_);
    auto self = this->shared_from_this();
    impl_->After(delay, [self] { self->Attempt(); });
  }

  // The call lets go of the client's internals before the caller hears:
  // a caller that then drops its Client (a *Sync call's) releases the last
  // reference on its own thread. Released on a gRPC callback thread, the
  // channels' teardown can free gRPC's shared callback queue under that
  // very thread (seen: a crash in grpc_cq_internal_unref, 1 run in 8 of a
  // 64-client bench).
  void Finish(Result<Resp> r) {
    impl_->CountRequest(op_, r.status().code());
    auto done = std::move(done_);
    impl_.reset();
    done(std::move(r));
  }

  std::shared_ptr<Client::Impl> impl_;
  const char* op_;
  OpKind kind_;
  Send send_;
  Req req_;
  Done<Resp> done_;
  int64_t deadline_ms_ = 0;
  int attempt_ = 0;
  bool token_renewed_ = false;
  std::unique_ptr<grpc::ClientContext> ctx_;  // the attempt in flight
  Resp resp_;
};

// Starts `op`: `method` of the stub `stub` of the endpoint in use, retried as `kind` allows.
template <class Stub, class Async, class Req, class Resp>
void Start(const std::shared_ptr<Client::Impl>& impl, const char* op, OpKind kind, std::unique_ptr<Stub> Conn::*stub,
           void (Async::*method)(grpc::ClientContext*, const Req*, Resp*, std::function<void(grpc::Status)>),
           Req req, Done<Resp> done) {
  auto send = [stub, method](Conn& c, grpc::ClientContext* ctx, const Req* rq, Resp* rs,
                             std::function<void(grpc::Status)> cb) {
    ((c.*stub)->async()->*method)(ctx, rq, rs, std::move(cb));
  };
  std::make_shared<UnaryCall<Req, Resp>>(impl, op, kind, std::move(send), std::move(req), std::move(done))->Attempt();
}

// The blocking form of an asynchronous call.
template <class Resp, class F>
Result<Resp> Wait(F start) {
  auto promise = std::make_shared<std::promise<Result<Resp>>>();
  auto future = promise->get_future();
  start([promise](Result<Resp> r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace

using namespace etcdserverpb;  // NOLINT: the message names are etcd's

Result<std::shared_ptr<Client>> Client::Create(Options o) {
  auto impl = Impl::Create(std::move(o));
  if (!impl.ok()) return impl.status();
  return std::shared_ptr<Client>(new Client(std::move(*impl)));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
// Streams (watches, keep-alives) and calls still unwinding hold the
// internals too: wait (bounded) until they let go, so that the last
// reference, and the channels' teardown, is this thread's (see Finish).
Client::~Client() {
  impl_->Shutdown();
  const int64_t until = NowMs() + 2000;
  while (impl_.use_count() > 1 && NowMs() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Client::Range(RangeRequest r, Done<RangeResponse> d) {
  Start(impl_, "Range", OpKind::kRead, &Conn::kv, &KV::StubInterface::async_interface::Range, std::move(r),
        std::move(d));
}
void Client::Put(PutRequest r, Done<PutResponse> d) {
  Start(impl_, "Put", OpKind::kWrite, &Conn::kv, &KV::StubInterface::async_interface::Put, std::move(r),
        std::move(d));
}
void Client::DeleteRange(DeleteRangeRequest r, Done<DeleteRangeResponse> d) {
  Start(impl_, "DeleteRange", OpKind::kWrite, &Conn::kv, &KV::StubInterface::async_interface::DeleteRange,
        std::move(r), std::move(d));
}
void Client::Txn(TxnRequest r, Done<TxnResponse> d) {
  // A Txn of reads only could be retried; Skyport's all compare-and-write.
  Start(impl_, "Txn", OpKind::kWrite, &Conn::kv, &KV::StubInterface::async_interface::Txn, std::move(r),
        std::move(d));
}
void Client::LeaseGrant(LeaseGrantRequest r, Done<LeaseGrantResponse> d) {
  Start(impl_, "LeaseGrant", OpKind::kWrite, &Conn::lease, &Lease::StubInterface::async_interface::LeaseGrant,
        std::move(r), std::move(d));
}
void Client::LeaseRevoke(LeaseRevokeRequest r, Done<LeaseRevokeResponse> d) {
  Start(impl_, "LeaseRevoke", OpKind::kWrite, &Conn::lease, &Lease::StubInterface::async_interface::LeaseRevoke,
        std::move(r), std::move(d));
}
void Client::LeaseTimeToLive(LeaseTimeToLiveRequest r, Done<LeaseTimeToLiveResponse> d) {
  Start(impl_, "LeaseTimeToLive", OpKind::kRead, &Conn::lease,
        &Lease::StubInterface::async_interface::LeaseTimeToLive, std::move(r), std::move(d));
}

void Client::LeaseLeases(LeaseLeasesRequest r, Done<LeaseLeasesResponse> d) {
  Start(impl_, "LeaseLeases", OpKind::kRead, &Conn::lease, &Lease::StubInterface::async_interface::LeaseLeases,
        std::move(r), std::move(d));
}
void Client::LeaseKeepAlive(int64_t lease_id, Done<LeaseKeepAliveResponse> d) {
  impl_->keepalive().KeepAlive(impl_, lease_id, std::move(d));
}

Result<RangeResponse> Client::RangeSync(RangeRequest r) {
  return Wait<RangeResponse>([&](auto d) { Range(std::move(r), std::move(d)); });
}
Result<PutResponse> Client::PutSync(PutRequest r) {
  return Wait<PutResponse>([&](auto d) { Put(std::move(r), std::move(d)); });
}
Result<DeleteRangeResponse> Client::DeleteRangeSync(DeleteRangeRequest r) {
  return Wait<DeleteRangeResponse>([&](auto d) { DeleteRange(std::move(r), std::move(d)); });
}
Result<TxnResponse> Client::TxnSync(TxnRequest r) {
  return Wait<TxnResponse>([&](auto d) { Txn(std::move(r), std::move(d)); });
}
Result<LeaseGrantResponse> Client::LeaseGrantSync(LeaseGrantRequest r) {
  return Wait<LeaseGrantResponse>([&](auto d) { LeaseGrant(std::move(r), std::move(d)); });
}
Result<LeaseRevokeResponse> Client::LeaseRevokeSync(LeaseRevokeRequest r) {
  return Wait<LeaseRevokeResponse>([&](auto d) { LeaseRevoke(std::move(r), std::move(d)); });
}
Result<LeaseTimeToLiveResponse> Client::LeaseTimeToLiveSync(LeaseTimeToLiveRequest r) {
  return Wait<LeaseTimeToLiveResponse>([&](auto d) { LeaseTimeToLive(std::move(r), std::move(d)); });
}

Result<LeaseLeasesResponse> Client::LeaseLeasesSync(LeaseLeasesRequest r) {
  return Wait<LeaseLeasesResponse>([&](auto d) { LeaseLeases(std::move(r), std::move(d)); });
}
Result<LeaseKeepAliveResponse> Client::LeaseKeepAliveSync(int64_t lease_id) {
  return Wait<LeaseKeepAliveResponse>([&](auto d) { LeaseKeepAlive(lease_id, std::move(d)); });
}

std::string Client::current_endpoint() const {
  return impl_->AnsweredUrl();
}

void Client::WriteMetrics(PromText& out) const { impl_->WriteMetrics(out); }

}  // namespace skyport::etcd
