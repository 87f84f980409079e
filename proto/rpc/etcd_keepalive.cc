#include "rpc/etcd_keepalive.h"

#include <deque>
#include <vector>

#include "rpc/etcd_client_impl.h"
#include "rpc/etcd_retry.h"

namespace skyport::etcd {

using etcdserverpb::LeaseKeepAliveRequest;
using etcdserverpb::LeaseKeepAliveResponse;

namespace {
constexpr std::string_view kOp = "LeaseKeepAlive";
}

struct KeepAliveMux::Waiter {
  int64_t id = 0;
  Done<LeaseKeepAliveResponse> done;
  int64_t deadline_ms = 0;
  int attempt = 0;
  bool token_renewed = false;
  uint64_t gen = 0;  // the stream it was last sent on
  bool finished = false;
  std::shared_ptr<Client::Impl> impl;  // keeps the client alive while waiting
};

// One LeaseKeepAlive stream: one write in flight, reads until it ends.
class KeepAliveMux::Stream : public grpc::ClientBidiReactor<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
 public:
  Stream(std::shared_ptr<Client::Impl> impl, size_t endpoint, uint64_t gen)
      : impl_(std::move(impl)), endpoint_(endpoint), gen_(gen) {
    impl_->Prepare(ctx_, 0);
  }
  // Outside the mux's lock: a reaction must never find it held.
  void Start() {
    impl_->conn(endpoint_).lease->async()->LeaseKeepAlive(&ctx_, this);
    StartRead(&resp_);
    {
      std::lock_guard lock(mu_);
      started_ = true;
      if (!queue_.empty()) WriteFrontLocked();
    }
    StartCall();
  }
  void Enqueue(int64_t id) {
    std::lock_guard lock(mu_);
    queue_.push_back(id);
    if (started_ && !writing_) WriteFrontLocked();
  }
  void Cancel() { ctx_.TryCancel(); }
  uint64_t gen() const { return gen_; }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    queue_.pop_front();
    if (ok && !queue_.empty()) WriteFrontLocked();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    impl_->keepalive().OnAnswer(gen_, endpoint_, resp_);
    StartRead(&resp_);
  }
  void OnDone(const grpc::Status& s) override {
    impl_->keepalive().OnStreamDone(gen_, endpoint_, s);
    delete this;
  }

 private:
  void WriteFrontLocked() {
    writing_ = true;
    req_.set_id(queue_.front());
    StartWrite(&req_);
  }

  std::shared_ptr<Client::Impl> impl_;
  size_t endpoint_;
  uint64_t gen_;
  grpc::ClientContext ctx_;
  LeaseKeepAliveRequest req_;
  LeaseKeepAliveResponse resp_;
  std::mutex mu_;
  std::deque<int64_t> queue_;  // guarded by mu_; front() is being written while writing_
  bool writing_ = false;       // guarded by mu_
  bool started_ = false;       // guarded by mu_: bound to its call (Start)
};

void KeepAliveMux::KeepAlive(std::shared_ptr<Client::Impl> self, int64_t lease_id,
                             Done<LeaseKeepAliveResponse> done) {
  auto w = std::make_shared<Waiter>();
  w->id = lease_id;
  w->done = std::move(done);
  w->deadline_ms = NowMs() + impl_->options().request_timeout_ms;
  w->impl = std::move(self);
  Send(std::move(w));
}

void KeepAliveMux::Send(std::shared_ptr<Waiter> w) {
  if (impl_->auth_enabled() && !impl_->HasToken()) {
    size_t at = impl_->Current();
    impl_->RenewToken(at, false, [this, w, at](Status s) {
      if (s.ok()) return Send(w);
      Retry(w, at, s.code(), s.message());  // no stream was made: retried like a broken one
    });
    return;
  }
  Stream* fresh = nullptr;
  {
    std::unique_lock lock(mu_);
    if (w->finished) return;  // its deadline passed while it waited for a retry
    if (shutdown_) {
      lock.unlock();
      return Finish(w, Status(Code::kCancelled, "etcd LeaseKeepAlive: the client is closed"));
    }
    if (stream_ == nullptr) fresh = stream_ = new Stream(w->impl, impl_->Current(), ++gen_);
    w->gen = gen_;
    pending_.emplace(w->id, w);
    stream_->Enqueue(w->id);  // queued before the call starts, written once it has
  }
  if (fresh != nullptr) fresh->Start();
  ArmAttemptTimer(w);
}

void KeepAliveMux::ArmAttemptTimer(std::shared_ptr<Waiter> w) {
  const Options& o = impl_->options();
  int64_t now = NowMs();
  int64_t attempt_ms = std::max(o.dial_timeout_ms, o.request_timeout_ms / 3);
  int64_t at = std::min(w->deadline_ms, now + attempt_ms);
  uint64_t gen = w->gen;
  impl_->After(at - now, [this, w, gen] {
    std::unique_lock lock(mu_);
    if (w->finished || w->gen != gen) return;
    if (NowMs() >= w->deadline_ms) {
      for (auto it = pending_.lower_bound(w->id); it != pending_.end() && it->first == w->id; ++it)
        if (it->second == w) {
          pending_.erase(it);
          break;
        }
      lock.unlock();
      return Finish(w, Status::DeadlineExceeded(impl_->Where(kOp, impl_->Current()) + "no answer for lease " +
                                                std::to_string(w->id) + " within the request timeout"));
    }
    // Unanswered on a stream that is still open: the member hangs. Drop the
    // stream; its waiting requests go out again on the next endpoint.
    if (stream_ != nullptr && stream_->gen() == gen) stream_->Cancel();
  });
}

void KeepAliveMux::OnAnswer(uint64_t gen, size_t endpoint, const LeaseKeepAliveResponse& resp) {
  std::vector<std::shared_ptr<Waiter>> answered;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.lower_bound(resp.id()); it != pending_.end() && it->first == resp.id();) {
      if (it->second->gen == gen) {
        answered.push_back(it->second);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  impl_->Answered(endpoint);
  for (auto& w : answered) {
    if (resp.ttl() <= 0)
      Finish(w, Status::NotFound(impl_->Where(kOp, endpoint) + "lease " + std::to_string(resp.id()) +
                                 " is not known to etcd (expired or revoked)"));
    else
      Finish(w, resp);
  }
}

void KeepAliveMux::OnStreamDone(uint64_t gen, size_t endpoint, const grpc::Status& status) {
  std::vector<std::shared_ptr<Waiter>> orphans;
  bool shutdown = false;
  {
    std::lock_guard lock(mu_);
    if (stream_ != nullptr && stream_->gen() == gen) stream_ = nullptr;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second->gen == gen) {
        orphans.push_back(it->second);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    shutdown = shutdown_;
  }
  Code code = static_cast<Code>(status.error_code());
  std::string msg = status.error_message();
  if (code == Code::kOk) code = Code::kUnavailable, msg = "the stream ended";
  // Our own cancel of a hung stream is a transport failure of that endpoint.
  if (code == Code::kCancelled && !shutdown) code = Code::kUnavailable, msg = "no answer in time (member hangs?)";
  for (auto& w : orphans) Retry(w, endpoint, code, msg);
}

void KeepAliveMux::Retry(const std::shared_ptr<Waiter>& w, size_t endpoint, Code code, const std::string& msg) {
  {
    std::unique_lock lock(mu_);
    if (shutdown_) {
      lock.unlock();
      return Finish(w, Status(Code::kCancelled, "etcd LeaseKeepAlive: the client is closed"));
    }
  }
  RetryDecision d = DecideRetry(OpKind::kRead, code, msg, w->token_renewed || !impl_->auth_enabled());
  if (d.next == Next::kRenewToken) {
    w->token_renewed = true;
    impl_->RenewToken(endpoint, true, [this, w, endpoint](Status s) {
      if (s.ok()) return Send(w);
      Retry(w, endpoint, s.code(), s.message());
    });
    return;
  }
  if (d.next != Next::kRetry) return Finish(w, Status(code, impl_->Where(kOp, endpoint) + msg));
  if (d.fail_over) impl_->FailOver(endpoint, kOp, msg);
  int64_t delay = RetryDelayMs(d, w->attempt++, static_cast<int>(impl_->size()), impl_->Uniform());
  if (NowMs() + delay >= w->deadline_ms)
    return Finish(w, Status::Unavailable(impl_->Where(kOp, endpoint) + msg + " (gave up after " +
                                         std::to_string(w->attempt) + " attempts within the request timeout)"));
  impl_->CountRetry(kOp);
  impl_->After(delay, [this, w] { Send(w); });
}

void KeepAliveMux::Finish(const std::shared_ptr<Waiter>& w, Result<LeaseKeepAliveResponse> r) {
  {
    std::lock_guard lock(mu_);
    if (w->finished) return;
    w->finished = true;
  }
  impl_->CountRequest(kOp, r.status().code());
  auto done = std::move(w->done);
  auto keep = std::move(w->impl);  // released after the callback
  done(std::move(r));
}

void KeepAliveMux::Shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  if (stream_ != nullptr) stream_->Cancel();
}

}  // namespace skyport::etcd
