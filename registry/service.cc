#include "registry/service.h"

#include <deque>
#include <mutex>

#include <fmt/format.h>

#include "core/names.h"
#include "contract/unknown_fields.h"
#include "rpc/auth.h"
#include "rpc/convert.h"

namespace skyport::registry {
namespace {

std::optional<int64_t> Expected(bool has, int64_t v) { return has ? std::optional<int64_t>(v) : std::nullopt; }

// One Watch call. gRPC owns the reactor; the StateOwner holds the stream through
// shared_ptr<WatchSink> and learns it is gone when Push returns false.
class WatchStream final : public WatchSink {
 public:
  class Reactor;
  WatchStream(size_t limit) : limit_(limit) {}

  bool Push(v1::WatchResponse msg) override;
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
                  fmt::format("watcher fell behind; resume from revision {}", last_revision_)});
    return false;
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

grpc::ServerUnaryReactor* RegistryService::Run(grpc::CallbackServerContext* ctx, StateOwner::Apply apply) {
  auto* reactor = ctx->DefaultReactor();
  if (grpc::Status s = rpc::CheckToken(*ctx, token_); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  owner_->Submit(std::move(apply), [reactor](const Status& s) { reactor->Finish(rpc::ToGrpc(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::Grant(grpc::CallbackServerContext* ctx, const v1::GrantRequest* req,
                                                 v1::GrantResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now& now) {
    auto r = st.Grant(req->ttl_seconds(), now.mono_ms, ch);
    if (r.ok()) *resp = *r;
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::KeepAlive(grpc::CallbackServerContext* ctx,
                                                     const v1::KeepAliveRequest* req, v1::KeepAliveResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes&, const Now& now) {
    auto r = st.KeepAlive(req->lease_id(), now.mono_ms);
    if (r.ok()) resp->set_ttl_seconds(*r);
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::Revoke(grpc::CallbackServerContext* ctx, const v1::RevokeRequest* req,
                                                  v1::RevokeResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now&) {
    auto r = st.Revoke(req->lease_id(), ch);
    if (r.ok()) {
      resp->set_removed(*r);
      resp->set_revision(st.revision());
    }
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::Allocate(grpc::CallbackServerContext* ctx,
                                                    const v1::AllocateRequest* req, v1::AllocateResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now& now) {
    auto r = st.Allocate(*req, now.random, ch);
    if (r.ok()) {
      resp->set_port(*r);
      resp->set_revision(st.revision());
    }
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::ReleasePort(grpc::CallbackServerContext* ctx,
                                                       const v1::ReleasePortRequest* req,
                                                       v1::ReleasePortResponse*) {
  return Run(ctx, [req](RegistryState& st, Changes& ch, const Now&) {
    return st.ReleasePort(req->host(), req->port(), req->lease_id(), ch);
  });
}

grpc::ServerUnaryReactor* RegistryService::Register(grpc::CallbackServerContext* ctx,
                                                    const v1::RegisterRequest* req, v1::RegisterResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now& now) {
    if (Status s = contract::RejectUnknownFields(*req, "register"); !s.ok()) return s;
    auto r = st.Register(req->endpoint(), now.wall_ms, ch);
    if (r.ok()) {
      resp->set_id(*r);
      resp->set_revision(st.revision());
    }
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::Deregister(grpc::CallbackServerContext* ctx,
                                                      const v1::DeregisterRequest* req,
                                                      v1::DeregisterResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now&) {
    Status s = st.Deregister(req->id(), ch);
    if (s.ok()) resp->set_revision(st.revision());
    return s;
  });
}

grpc::ServerUnaryReactor* RegistryService::Query(grpc::CallbackServerContext* ctx, const v1::QueryRequest* req,
                                                 v1::QueryResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes&, const Now&) {
    auto r = st.Query(req->app(), req->commit_prefix(), req->role());
    if (!r.ok()) return r.status();
    for (auto& ep : *r) *resp->add_endpoints() = std::move(ep);
    resp->set_revision(st.revision());
    return Status::Ok();
  });
}

grpc::ServerUnaryReactor* RegistryService::Show(grpc::CallbackServerContext* ctx, const v1::ShowRequest*,
                                                v1::ShowResponse* resp) {
  return Run(ctx, [resp](RegistryState& st, Changes&, const Now&) {
    auto r = st.Query("", "", "");
    for (auto& ep : *r) *resp->add_endpoints() = std::move(ep);
    for (const auto& [app, route] : st.routes()) *resp->add_routes() = route;
    resp->set_revision(st.revision());
    return Status::Ok();
  });
}

grpc::ServerUnaryReactor* RegistryService::GetRoute(grpc::CallbackServerContext* ctx,
                                                    const v1::GetRouteRequest* req, v1::RouteConfig* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes&, const Now&) {
    auto r = st.GetRoute(req->app());
    if (r.ok()) *resp = *r;
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::PutRoute(grpc::CallbackServerContext* ctx,
                                                    const v1::PutRouteRequest* req, v1::PutRouteResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now&) {
    if (Status s = contract::RejectUnknownFields(*req, "put_route"); !s.ok()) return s;
    auto r = st.PutRoute(req->route(), Expected(req->has_expected_revision(), req->expected_revision()), ch);
    if (r.ok()) resp->set_revision(*r);
    return r.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::DeleteRoute(grpc::CallbackServerContext* ctx,
                                                       const v1::DeleteRouteRequest* req,
                                                       v1::DeleteRouteResponse* resp) {
  return Run(ctx, [req, resp](RegistryState& st, Changes& ch, const Now&) {
    auto r = st.DeleteRoute(req->app(), Expected(req->has_expected_revision(), req->expected_revision()), ch);
    if (r.ok()) resp->set_revision(*r);
    return r.status();
  });
}

grpc::ServerWriteReactor<v1::WatchResponse>* RegistryService::Watch(grpc::CallbackServerContext* ctx,
                                                                    const v1::WatchRequest* req) {
  auto stream = std::make_shared<WatchStream>(watch_queue_limit_);
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
  owner_->AddWatcher(stream, req->from_revision(), req->app());
  return reactor;
}

}  // namespace skyport::registry
