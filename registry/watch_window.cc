#include "registry/watch_window.h"

#include <algorithm>

#include "registry/etcd_events.h"

namespace skyport::registry {

void WatchWindow::Reset(int64_t floor) {
  updates_.clear();
  events_ = 0;
  floor_ = head_ = floor;
}

size_t WatchWindow::Append(WindowUpdate update) {
  head_ = std::max(head_, update->revision());
  events_ += static_cast<size_t>(update->events_size());
  updates_.push_back(std::move(update));
  size_t evicted = 0;
  while (events_ > max_events_ && updates_.size() > 1) {
    const v1::WatchResponse& old = *updates_.front();
    // Not its header revision: the newest change it held is what is surely
    // gone; a later update holds every change after that.
    if (old.events_size() > 0) floor_ = std::max(floor_, old.events(old.events_size() - 1).revision());
    events_ -= static_cast<size_t>(old.events_size());
    updates_.pop_front();
    ++evicted;
  }
  return evicted;
}

std::optional<std::vector<WindowUpdate>> WatchWindow::Since(int64_t after) const {
  if (after < floor_) return std::nullopt;
  // An update's events are at most its revision: those at or below `after` hold nothing newer.
  auto first = std::upper_bound(updates_.begin(), updates_.end(), after,
                                [](int64_t a, const WindowUpdate& u) { return a < u->revision(); });
  return std::vector<WindowUpdate>(first, updates_.end());
}

std::optional<v1::WatchResponse> ForWatcher(const v1::WatchResponse& update, const std::string& app,
                                            int64_t after) {
  if (update.events_size() == 0) return std::nullopt;
  if (app.empty() && update.events(0).revision() > after) return update;  // all of it: one copy
  v1::WatchResponse msg;
  msg.set_kind(update.kind());
  msg.set_revision(update.revision());
  for (const v1::Event& e : update.events())
    if (e.revision() > after && (app.empty() || EventApp(e) == app)) *msg.add_events() = e;
  if (msg.events_size() == 0) return std::nullopt;
  return msg;
}

std::vector<v1::WatchResponse> Backlog(const std::vector<WindowUpdate>& updates, const std::string& app,
                                       int64_t after, size_t chunk) {
  std::vector<v1::WatchResponse> out;
  for (const WindowUpdate& u : updates) {
    auto m = ForWatcher(*u, app, after);
    if (!m) continue;
    if (out.empty() || static_cast<size_t>(out.back().events_size() + m->events_size()) > chunk) {
      out.push_back(std::move(*m));
      continue;
    }
    v1::WatchResponse& last = out.back();
    for (auto& e : *m->mutable_events()) *last.add_events() = std::move(e);
    last.set_revision(m->revision());
  }
  return out;
}

SharedEnd DecideSharedEnd(bool gone, bool behind, int reopens) {
  if (gone || behind) return SharedEnd::kReset;
  return reopens >= kMaxSharedReopens ? SharedEnd::kReset : SharedEnd::kReopen;
}

}  // namespace skyport::registry
