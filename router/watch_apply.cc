#include "router/watch_apply.h"

namespace skyport::router {

void WatchApply::OnMessage(v1::WatchResponse& msg) {
  if (msg.kind() == v1::WatchResponse::SNAPSHOT) {
    if (!staging_) staging_.emplace(role_);
    for (const v1::Endpoint& ep : msg.endpoints()) staging_->PutEndpoint(ep);
    for (const v1::RouteConfig& r : msg.routes()) staging_->PutRoute(r);
    events_applied_ += static_cast<uint64_t>(msg.endpoints_size() + msg.routes_size());
    if (msg.more()) return;
    mirror_.ReplaceWith(std::move(*staging_));
    staging_.reset();
    ++snapshots_applied_;
    revision_ = msg.revision();
    return;
  }
  // A delta inside a snapshot cannot happen on a well-behaved stream; if it
  // does, the snapshot is incomplete: drop it rather than publish half of it.
  staging_.reset();
  for (const v1::Event& ev : msg.events()) mirror_.Apply(ev);
  events_applied_ += static_cast<uint64_t>(msg.events_size());
  revision_ = msg.revision();
}

void WatchApply::OnStreamEnd() { staging_.reset(); }

bool WatchApply::ShouldPublish(bool extra_touched) const {
  if (staging_) return false;
  return extra_touched || mirror_.has_touched() || revision_ != published_revision_;
}

}  // namespace skyport::router
