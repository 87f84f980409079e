#include "registry/snapshot_chunker.h"

#include <algorithm>

namespace skyport::registry {

SnapshotChunker::SnapshotChunker(std::string app, size_t chunk, int64_t revision)
    : app_(std::move(app)), chunk_(std::max<size_t>(chunk, 1)), revision_(revision) {
  Fresh();
}

void SnapshotChunker::Fresh() {
  v1::WatchResponse r;
  r.set_kind(v1::WatchResponse::SNAPSHOT);
  r.set_revision(revision_);
  r.set_more(true);
  out_.push_back(std::move(r));
}

void SnapshotChunker::AddRoute(const v1::RouteConfig& r) {
  if (app_.empty() || r.app() == app_) *out_.back().add_routes() = r;
}

void SnapshotChunker::AddEndpoint(const v1::Endpoint& ep) {
  if (!app_.empty() && ep.app() != app_) return;
  if (static_cast<size_t>(out_.back().endpoints_size()) >= chunk_) Fresh();
  *out_.back().add_endpoints() = ep;
}

std::vector<v1::WatchResponse> SnapshotChunker::Finish() {
  out_.back().set_more(false);
  return std::move(out_);
}

}  // namespace skyport::registry
