#include "registry/service.h"

#include <deque>
#include <mutex>

#include <fmt/format.h>

#include "core/names.h"
#include "core/prom_text.h"
#include "core/version.h"
#include "contract/unknown_fields.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::registry {
namespace {

// One Watch call. gRPC owns the reactor; the Backend holds the stream through
// shared_ptr<WatchSink> and learns it is gone when Push returns false.
class WatchStream final : public WatchSink {
 public:
  class Reactor;
  // `store_id` goes on the first message (WatchResponse.store_id).
  WatchStream(size_t limit, std::string store_id) : limit_(limit), store_id_(std::move(store_id)) {}

  bool Push(v1::WatchResponse msg) override;
  void Close(const Status& why) override {
    std::lock_guard lock(mu_);
    if (reactor_ != nullptr) FinishLocked(rpc::ToGrpc(why));
  }
  bool Open() override {
    std::lock_guard lock(mu_);
    return reactor_ != nullptr && !finishing_;
  }
  void Attach(Reactor* r) {
    std::lock_guard lock(mu_);
    reactor_ = r;
  }
  void OnWriteDone(bool ok);
  void OnCancel();
  void OnDone() {
    std::lock_guard lock(mu_);
    reactor_ = nullptr;
  }

 private:
  void FinishLocked(const grpc::Status& s);

  std::mutex mu_;
  Reactor* reactor_ = nullptr;      // null once gRPC is done with the call
  std::deque<v1::WatchResponse> queue_;  // front is in flight while writing_
  bool writing_ = false;
  bool finishing_ = false;
  grpc::Status final_;
  size_t limit_;
  int64_t last_revision_ = 0;
  std::string store_id_;  // moved into the first message
  bool stamped_ = false;
};

class WatchStream::Reactor final : public grpc::ServerWriteReactor<v1::WatchResponse> {
 public:
  explicit Reactor(std::shared_ptr<WatchStream> s) : stream_(std::move(s)) {}
  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }
  void OnCancel() override { stream_->OnCancel(); }
  void OnDone() override {
    stream_->OnDone();
    delete this;
  }

 private:
  std::shared_ptr<WatchStream> stream_;
};

bool WatchStream::Push(v1::WatchResponse msg) {
  std::lock_guard lock(mu_);
  if (reactor_ == nullptr || finishing_) return false;
  if (queue_.size() >= limit_) {
    // A watcher this far behind is cut off; it resumes from its revision.
    FinishLocked({grpc::StatusCode::RESOURCE_EXHAUSTED,
                  last_revision_ == 0
                      ? std::string("watcher fell behind before any message reached it; watch again for a snapshot")
                      : fmt::format("watcher fell behind; resume from revision {}", last_revision_)});
    return false;
  }
  if (!stamped_) {
    stamped_ = true;
    msg.set_store_id(std::move(store_id_));
  }
  queue_.push_back(std::move(msg));
  if (!writing_) {
    writing_ = true;
    reactor_->StartWrite(&queue_.front());
  }
  return true;
}

void WatchStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  if (!queue_.empty()) {
    last_revision_ = queue_.front().revision();
    queue_.pop_front();
  }
  writing_ = false;
  if (reactor_ == nullptr) return;
  if (!ok) {
    FinishLocked({grpc::StatusCode::CANCELLED, "watcher went away"});
    return;
  }
  if (finishing_) {
    reactor_->Finish(final_);
    return;
  }
  if (!queue_.empty()) {
    writing_ = true;
    reactor_->StartWrite(&queue_.front());
  }
}

void WatchStream::OnCancel() {
  std::lock_guard lock(mu_);
  if (reactor_ != nullptr) FinishLocked({grpc::StatusCode::CANCELLED, "watch cancelled"});
}

void WatchStream::FinishLocked(const grpc::Status& s) {
  if (finishing_) return;
  finishing_ = true;
  final_ = s;
  // Finish only with no write in flight; OnWriteDone finishes otherwise.
  if (!writing_) reactor_->Finish(final_);
}

}  // namespace

grpc::ServerUnaryReactor* RegistryService::Run(grpc::CallbackServerContext* ctx,
                                               const std::function<void(Backend::Done)>& call,
                                               const std::function<Status()>& check) {
  auto* reactor = ctx->DefaultReactor();
  grpc::Status s = rpc::CheckToken(*ctx, token_);
  if (s.ok() && check) s = rpc::ToGrpc(check());
  if (!s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  call([reactor](const Status& st) { reactor->Finish(rpc::ToGrpc(st)); });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::Grant(grpc::CallbackServerContext* ctx, const v1::GrantRequest* req,
                                                 v1::GrantResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->Grant(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::KeepAlive(grpc::CallbackServerContext* ctx,
                                                     const v1::KeepAliveRequest* req, v1::KeepAliveResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->KeepAlive(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::Revoke(grpc::CallbackServerContext* ctx, const v1::RevokeRequest* req,
                                                  v1::RevokeResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->Revoke(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::Allocate(grpc::CallbackServerContext* ctx,
                                                    const v1::AllocateRequest* req, v1::AllocateResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->Allocate(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::ReleasePort(grpc::CallbackServerContext* ctx,
                                                       const v1::ReleasePortRequest* req,
                                                       v1::ReleasePortResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->ReleasePort(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::Register(grpc::CallbackServerContext* ctx,
                                                    const v1::RegisterRequest* req, v1::RegisterResponse* resp) {
  return Run(
      ctx, [&](Backend::Done d) { backend_->Register(*req, resp, std::move(d)); },
      [req] { return contract::RejectUnknownFields(*req, "register"); });
}

grpc::ServerUnaryReactor* RegistryService::Deregister(grpc::CallbackServerContext* ctx,
                                                      const v1::DeregisterRequest* req,
                                                      v1::DeregisterResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->Deregister(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::Query(grpc::CallbackServerContext* ctx, const v1::QueryRequest* req,
                                                 v1::QueryResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->Query(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::Show(grpc::CallbackServerContext* ctx, const v1::ShowRequest* req,
                                                v1::ShowResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->Show(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::GetRoute(grpc::CallbackServerContext* ctx,
                                                    const v1::GetRouteRequest* req, v1::RouteConfig* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->GetRoute(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::PutRoute(grpc::CallbackServerContext* ctx,
                                                    const v1::PutRouteRequest* req, v1::PutRouteResponse* resp) {
  return Run(
      ctx, [&](Backend::Done d) { backend_->PutRoute(*req, resp, std::move(d)); },
      [req] { return contract::RejectUnknownFields(*req, "put_route"); });
}

grpc::ServerUnaryReactor* RegistryService::DeleteRoute(grpc::CallbackServerContext* ctx,
                                                       const v1::DeleteRouteRequest* req,
                                                       v1::DeleteRouteResponse* resp) {
  return Run(ctx, [&](Backend::Done d) { backend_->DeleteRoute(*req, resp, std::move(d)); });
}

grpc::ServerUnaryReactor* RegistryService::Info(grpc::CallbackServerContext* ctx, const v1::RegistryInfoRequest*,
                                                v1::RegistryInfoResponse* resp) {
  return Run(ctx, [this, resp](Backend::Done d) {
    resp->set_version(VersionLine("registry"));
    resp->set_store(store_);
    resp->set_started_unix_ms(started_unix_ms_);
    d(Status::Ok());
  });
}

std::string RegistryService::MetricsText() const {
  PromText out;
  out.Counter("skyport_registry_watch_other_store_total",
              "Watches resuming from a revision of another store (answered with a snapshot).",
              other_store_resumes_.load());
  return out.Take();
}

grpc::ServerWriteReactor<v1::WatchResponse>* RegistryService::Watch(grpc::CallbackServerContext* ctx,
                                                                    const v1::WatchRequest* req) {
  const std::string store_id = backend_->StoreId();
  auto stream = std::make_shared<WatchStream>(watch_queue_limit_, store_id);
  auto* reactor = new WatchStream::Reactor(stream);
  stream->Attach(reactor);
  grpc::Status s = rpc::CheckToken(*ctx, token_);
  if (s.ok() && !req->app().empty()) s = rpc::ToGrpc(ValidateName("app", req->app()));
  if (s.ok() && req->from_revision() < 0)
    s = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_revision: must be >= 0");
  if (!s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  // A revision counted in another store means nothing here: a snapshot.
  const bool same_store = req->store_id().empty() || req->store_id() == store_id;
  if (!same_store && req->from_revision() > 0) ++other_store_resumes_;
  backend_->Watch(stream, same_store ? req->from_revision() : 0, req->app());
  return reactor;
}

}  // namespace skyport::registry
