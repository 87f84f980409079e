// StartWatch: a watch that outlives its streams (see etcd_client.h).
//
// WatchCore owns the state (the next revision to ask for, the stream in
// use); one WatchStream at a time carries it. When a stream ends for any
// reason but compaction, cancellation by etcd, an etcd behind the revision
// already seen (restored from a snapshot) or our own Stop, the core opens
// a new one from the next revision, on the next endpoint when the old one
// failed, after a bounded backoff (core/backoff.h kReconnectBackoff).
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "rpc/etcd_client_impl.h"
#include "rpc/etcd_retry.h"

namespace skyport::etcd {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

class WatchStream;

class WatchCore : public std::enable_shared_from_this<WatchCore> {
 public:
  WatchCore(std::shared_ptr<Client> client, WatchSpec spec, std::function<void(WatchUpdate)> on_update)
      : client_(std::move(client)), impl_(client_->impl()), spec_(std::move(spec)), on_update_(std::move(on_update)),
        next_rev_(spec_.start_revision) {}

  void Open();
  void Stop();
  // Called by the stream; false ends the stream.
  bool OnResponse(size_t endpoint, const WatchResponse& resp);
  void OnStreamDone(size_t endpoint, const grpc::Status& status);

 private:
  void Deliver(WatchUpdate u);
  void End(WatchUpdate u);

  std::shared_ptr<Client> client_;
  std::shared_ptr<Client::Impl> impl_;
  const WatchSpec spec_;
  std::function<void(WatchUpdate)> on_update_;

  std::mutex mu_;
  std::condition_variable cv_;
  WatchStream* stream_ = nullptr;  // guarded by mu_
  bool stopped_ = false;           // guarded by mu_: Stop was called
  bool ended_ = false;             // guarded by mu_: compaction or a final error was delivered
  int64_t next_rev_;               // guarded by mu_: 0 = "now" until the first stream is created
  int failures_ = 0;               // guarded by mu_: consecutive, for the backoff
  bool token_renewed_ = false;     // guarded by mu_
  bool renew_on_done_ = false;     // guarded by mu_: etcd refused the token; renew once the stream is gone
  LogLimiter resume_log_;          // guarded by mu_: etcd down means a resume every 0.5 s
  std::mutex deliver_mu_;          // held while on_update_ runs, so Stop can wait it out
};

class WatchStream : public grpc::ClientBidiReactor<WatchRequest, WatchResponse> {
 public:
  WatchStream(std::shared_ptr<WatchCore> core, Client::Impl& impl, size_t endpoint, const WatchSpec& spec,
              int64_t start_rev)
      : core_(std::move(core)), endpoint_(endpoint) {
    impl.Prepare(ctx_, 0);
    auto* create = req_.mutable_create_request();
    create->set_key(spec.key);
    create->set_range_end(spec.range_end);
    create->set_start_revision(start_rev);
    create->set_prev_kv(spec.prev_kv);
    create->set_progress_notify(spec.progress_notify);
    stub_ = impl.conn(endpoint).watch.get();
  }
  // Outside the core's lock: a reaction must never find it held.
  void Start() {
    stub_->async()->Watch(&ctx_, this);
    StartWrite(&req_);
    StartRead(&resp_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnWriteDone(bool) override {}
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    if (core_->OnResponse(endpoint_, resp_))
      StartRead(&resp_);
    else
      ctx_.TryCancel();
  }
  void OnDone(const grpc::Status& s) override {
    core_->OnStreamDone(endpoint_, s);
    delete this;
  }

 private:
  std::shared_ptr<WatchCore> core_;
  size_t endpoint_;
  etcdserverpb::Watch::Stub* stub_ = nullptr;
  grpc::ClientContext ctx_;
  WatchRequest req_;
  WatchResponse resp_;
};

void WatchCore::Open() {
  std::unique_lock lock(mu_);
  if (stopped_ || ended_ || stream_ != nullptr) return;
  if (impl_->auth_enabled() && !impl_->HasToken()) {
    size_t at = impl_->Current();
    auto self = shared_from_this();
    lock.unlock();
    impl_->RenewToken(at, false, [self, at](Status s) {
      if (s.ok()) return self->Open();
      self->OnStreamDone(at, grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message()));
    });
    return;
  }
  WatchStream* stream = new WatchStream(shared_from_this(), *impl_, impl_->Current(), spec_, next_rev_);
  stream_ = stream;
  lock.unlock();
  stream->Start();  // a Stop meanwhile cancelled its context: it ends at once
}

bool WatchCore::OnResponse(size_t endpoint, const WatchResponse& resp) {
  WatchUpdate u;
  {
    std::lock_guard lock(mu_);
    if (stopped_ || ended_) return false;
    if (resp.compact_revision() > 0) {
      u.compact_revision = resp.compact_revision();
      ended_ = true;
    } else if (resp.canceled() && StaleTokenReason(resp.cancel_reason()) && impl_->auth_enabled() &&
               !token_renewed_) {
      // The token expired while the stream was away (etcd's simple tokens
      // live 5 minutes unused): renew it and create the watch again.
      token_renewed_ = true;
      renew_on_done_ = true;
      return false;
    } else if (resp.canceled()) {
      std::string why = resp.cancel_reason().empty() ? "cancelled by etcd" : resp.cancel_reason();
      u.error = Status(Code::kAborted, impl_->Where("Watch", endpoint) + why);
      ended_ = true;
    } else {
      failures_ = 0;
      token_renewed_ = false;
      if (resp.created()) {
        impl_->Answered(endpoint);
        if (next_rev_ == 0) next_rev_ = resp.header().revision() + 1;
        if (resp.header().revision() + 1 >= next_rev_) return true;
        // etcd is behind what this watch has seen: restored from a snapshot
        // (its revisions count again from the snapshot's) or a member that
        // lags. Waiting for a revision it may never reach again (or reach
        // with other changes) would miss changes silently: the watch ends,
        // and its owner reads again (a resume from its revision then finds
        // it in the future and takes a snapshot).
        u.error = Status(Code::kAborted, impl_->Where("Watch", endpoint) +
                                             fmt::format("etcd is at revision {}, behind this watch's {}; "
                                                         "restored from a snapshot? watch again",
                                                         resp.header().revision(), next_rev_ - 1));
        ended_ = true;
      } else {
        u.revision = resp.header().revision();
        for (const mvccpb::Event& e : resp.events())
          if (e.kv().mod_revision() >= next_rev_) u.events.push_back(e);  // a resumed stream repeats nothing
        if (!u.events.empty()) next_rev_ = u.events.back().kv().mod_revision() + 1;
        // A progress notification: every event up to its revision was sent.
        if (resp.events_size() == 0 && u.revision + 1 > next_rev_) next_rev_ = u.revision + 1;
        if (u.events.empty() && !(resp.events_size() == 0 && spec_.progress_notify)) return true;
      }
    }
  }
  bool last = u.compact_revision > 0 || !u.error.ok();
  Deliver(std::move(u));
  return !last;
}

void WatchCore::OnStreamDone(size_t endpoint, const grpc::Status& status) {
  std::unique_lock lock(mu_);
  stream_ = nullptr;
  cv_.notify_all();
  if (stopped_ || ended_) return;
  if (renew_on_done_) {
    renew_on_done_ = false;
    lock.unlock();
    auto self = shared_from_this();
    impl_->RenewToken(endpoint, true, [self](Status) { self->Open(); });  // a failure shows on the next stream
    return;
  }
  Code code = static_cast<Code>(status.error_code());
  std::string msg = status.error_message();
  if (code == Code::kOk || code == Code::kCancelled) code = Code::kUnavailable, msg = "the watch stream ended";
  if (code == Code::kResourceExhausted && msg.find("larger than max") != std::string::npos)
    impl_->CountOversized("Watch", msg);  // final: the same answer would come again
  RetryDecision d = DecideRetry(OpKind::kRead, code, msg, token_renewed_ || !impl_->auth_enabled());
  if (d.next == Next::kRenewToken) {
    token_renewed_ = true;
    lock.unlock();
    auto self = shared_from_this();
    impl_->RenewToken(endpoint, true, [self](Status) { self->Open(); });  // a failure shows on the next stream
    return;
  }
  if (d.next != Next::kRetry) {
    ended_ = true;
    lock.unlock();
    WatchUpdate u;
    u.error = Status(code, impl_->Where("Watch", endpoint) + msg);
    return Deliver(std::move(u));
  }
  if (d.fail_over) impl_->FailOver(endpoint, "Watch", msg);
  int64_t delay = BackoffDelayMs(kReconnectBackoff, failures_++, impl_->Uniform());
  int64_t from = next_rev_;
  uint64_t suppressed = 0;
  bool log_it = resume_log_.Allow(MonoNowMs(), &suppressed);
  lock.unlock();
  impl_->CountResume();
  if (log_it)
    log::Info("etcd watch resuming",
              {{"key", spec_.key}, {"from_revision", from}, {"endpoint", impl_->conn(impl_->Current()).ep.url},
               {"after_ms", delay}, {"error", msg}, {"resumes_not_logged", suppressed}});
  auto self = shared_from_this();
  impl_->After(delay, [self] { self->Open(); });
}

void WatchCore::Deliver(WatchUpdate u) {
  std::lock_guard deliver(deliver_mu_);
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  on_update_(std::move(u));
}

void WatchCore::Stop() {
  std::unique_lock lock(mu_);
  stopped_ = true;
  if (stream_ != nullptr) stream_->Cancel();
  cv_.wait(lock, [this] { return stream_ == nullptr; });
  lock.unlock();
  std::lock_guard deliver(deliver_mu_);  // an on_update_ running now has returned
}

class WatchHandle final : public Watch {
 public:
  explicit WatchHandle(std::shared_ptr<WatchCore> core) : core_(std::move(core)) {}
  ~WatchHandle() override { core_->Stop(); }

 private:
  std::shared_ptr<WatchCore> core_;
};

}  // namespace

std::unique_ptr<Watch> StartWatch(std::shared_ptr<Client> client, WatchSpec spec,
                                  std::function<void(WatchUpdate)> on_update) {
  auto core = std::make_shared<WatchCore>(std::move(client), std::move(spec), std::move(on_update));
  core->Open();
  return std::make_unique<WatchHandle>(std::move(core));
}

}  // namespace skyport::etcd
