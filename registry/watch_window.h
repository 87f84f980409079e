// The recent changes ONE shared etcd watch per registry process has seen
// (etcd_watchers.cc, the shared watch), kept by revision so that a watcher
// joining it — after a snapshot at revision R, or resuming from revision R —
// gets exactly the changes after R: none missed, none twice. Pure: no I/O,
// no locks, no clock.
//
// Promises:
// - Updates are appended in revision order. One update is one etcd watch
//   response as a DELTA for every app (decoded once, deletes carrying their
//   entries): its revision is etcd's header revision, its events' revisions
//   are at most that.
// - floor(): every change with a revision > floor() is in the window or not
//   appended yet. Since(R) gives the updates holding changes after R, or
//   nullopt when R < floor() (evicted: the caller gives the watcher an etcd
//   watch of its own, or a snapshot).
// - Bounded: at most max_events events, oldest updates evicted first; the
//   newest update is always kept, however big (a lease's end is one update).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skyport/v1/registry.pb.h"

namespace skyport::registry {

using WindowUpdate = std::shared_ptr<const v1::WatchResponse>;

class WatchWindow {
 public:
  explicit WatchWindow(size_t max_events) : max_events_(max_events) {}

  // Empty, complete after `floor` (the revision the shared watch starts after).
  void Reset(int64_t floor);
  // Appends an update (its revision >= head()); returns how many old updates
  // the bound evicted to make room.
  size_t Append(WindowUpdate update);
  // The updates holding changes after `after`, oldest first (the first may
  // also hold older ones: ForWatcher drops them); nullopt when after < floor().
  std::optional<std::vector<WindowUpdate>> Since(int64_t after) const;

  int64_t floor() const { return floor_; }
  // The newest update's revision (floor() when there is none).
  int64_t head() const { return head_; }
  size_t events() const { return events_; }
  size_t updates() const { return updates_.size(); }
  size_t max_events() const { return max_events_; }

 private:
  size_t max_events_;
  std::deque<WindowUpdate> updates_;
  size_t events_ = 0;
  int64_t floor_ = 0;
  int64_t head_ = 0;
};

// What a watcher of `app` ("" = every app) that has every change through
// revision `after` gets of `update`: the events after `after` in its app, at
// the update's revision; nullopt when there are none.
std::optional<v1::WatchResponse> ForWatcher(const v1::WatchResponse& update, const std::string& app, int64_t after);

// What a watcher joining at `after` gets of the window's `updates` (Since):
// its app's changes after `after`, merged into messages of at most `chunk`
// events where the updates allow (cut only between updates, so a revision
// is never split; one bigger update is a message of its own), each at the
// revision of the last update it holds. A backlog of thousands of changes is
// then a few messages, well inside a watcher's queue.
std::vector<v1::WatchResponse> Backlog(const std::vector<WindowUpdate>& updates, const std::string& app,
                                       int64_t after, size_t chunk);

// What the shared etcd watch does when it ends (the etcd client already
// resumes by itself across broken streams and killed members; these are the
// ends it gives up on, or the registry's own reads of deleted values failing).
enum class SharedEnd {
  kReopen,  // open it again from the last revision it delivered: watchers and window stay
  kReset,   // end every watcher on it (each resumes by revision) and start afresh
};
// `gone`: etcd compacted a revision it needed (the watch's start, or a read
// of deleted values). `behind`: etcd is behind what it had seen (restored
// from a snapshot). `reopens`: re-opens since it last delivered an update.
// Either of those, or kMaxSharedReopens fruitless re-opens, reset; anything
// else (etcd failing for longer than the client's retries, the reads falling
// behind past the feed's bound) re-opens.
inline constexpr int kMaxSharedReopens = 3;
SharedEnd DecideSharedEnd(bool gone, bool behind, int reopens);

}  // namespace skyport::registry
