// The shared watch's window (registry/watch_window.h): a watcher joining it
// at any revision the window covers gets every later change of its app once,
// in order; older revisions are refused (the caller falls back); the bound
// holds; and what the shared watch does when etcd ends it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "registry/watch_window.h"

namespace skyport::registry {
namespace {

v1::Event Change(int64_t rev, const std::string& app, uint32_t port = 10000) {
  v1::Event e;
  e.set_type(v1::Event::ENDPOINT_PUT);
  e.set_revision(rev);
  e.mutable_endpoint()->set_app(app);
  e.mutable_endpoint()->set_port(port);
  e.mutable_endpoint()->set_revision(rev);
  return e;
}

// One etcd watch response: changes at `revs` (app "a" unless given), header revision `header`.
WindowUpdate Update(int64_t header, std::vector<std::pair<int64_t, std::string>> changes) {
  auto u = std::make_shared<v1::WatchResponse>();
  u->set_kind(v1::WatchResponse::DELTA);
  u->set_revision(header);
  for (auto& [rev, app] : changes) *u->add_events() = Change(rev, app);
  return u;
}

std::vector<int64_t> Revisions(const v1::WatchResponse& m) {
  std::vector<int64_t> out;
  for (const auto& e : m.events()) out.push_back(e.revision());
  return out;
}

TEST_CASE("watch window: fresh, it serves every revision from its start on and refuses older", "[registry]") {
  WatchWindow w(100);
  w.Reset(40);
  CHECK(w.floor() == 40);
  CHECK(w.head() == 40);
  REQUIRE(w.Since(40));
  CHECK(w.Since(40)->empty());
  // A revision the shared watch has not reached yet (a snapshot just taken): every later change comes through it.
  REQUIRE(w.Since(45));
  CHECK(w.Since(45)->empty());
  CHECK_FALSE(w.Since(39));
  CHECK_FALSE(w.Since(0));
}

TEST_CASE("watch window: Since picks by the update's revision, ForWatcher drops what the watcher has", "[registry]") {
  WatchWindow w(100);
  w.Reset(10);
  w.Append(Update(12, {{11, "a"}, {12, "a"}}));
  // etcd's header revision may be past its events (other keys changed): 20, events 13 and 15.
  w.Append(Update(20, {{13, "a"}, {15, "b"}}));
  w.Append(Update(21, {{21, "a"}}));
  CHECK(w.head() == 21);
  CHECK(w.events() == 5);

  auto all = w.Since(10);
  REQUIRE(all);
  CHECK(all->size() == 3);

  // A snapshot at 14 straddles the second update: only 15 of it.
  auto mid = w.Since(14);
  REQUIRE(mid);
  REQUIRE(mid->size() == 2);
  auto first = ForWatcher(*(*mid)[0], "", 14);
  REQUIRE(first);
  CHECK(Revisions(*first) == std::vector<int64_t>{15});
  CHECK(first->revision() == 20);
  CHECK(first->kind() == v1::WatchResponse::DELTA);
  // Between its events and its header: picked by its header, nothing of it for the watcher.
  auto late = w.Since(17);
  REQUIRE(late);
  REQUIRE(late->size() == 2);
  CHECK_FALSE(ForWatcher(*(*late)[0], "", 17));
  CHECK(Revisions(*(*late)[1]) == std::vector<int64_t>{21});
  CHECK(w.Since(21)->empty());
  CHECK(w.Since(25)->empty());
}

TEST_CASE("watch window: ForWatcher filters by app; a whole update for every app is one copy", "[registry]") {
  WindowUpdate u = Update(30, {{28, "a"}, {29, "b"}, {30, "a"}});
  auto every = ForWatcher(*u, "", 27);
  REQUIRE(every);
  CHECK(every->SerializeAsString() == u->SerializeAsString());
  auto a = ForWatcher(*u, "a", 0);
  REQUIRE(a);
  CHECK(Revisions(*a) == std::vector<int64_t>{28, 30});
  CHECK(a->revision() == 30);
  auto b = ForWatcher(*u, "b", 0);
  REQUIRE(b);
  CHECK(Revisions(*b) == std::vector<int64_t>{29});
  CHECK_FALSE(ForWatcher(*u, "c", 0));
  CHECK_FALSE(ForWatcher(*u, "b", 29));
  CHECK_FALSE(ForWatcher(*u, "", 30));
  CHECK_FALSE(ForWatcher(*Update(31, {}), "", 0));
}

TEST_CASE("watch window: the bound evicts the oldest updates and raises the floor to their newest change",
          "[registry]") {
  WatchWindow w(4);
  w.Reset(100);
  CHECK(w.Append(Update(102, {{101, "a"}, {102, "a"}})) == 0);
  CHECK(w.Append(Update(110, {{103, "a"}, {104, "a"}})) == 0);
  CHECK(w.events() == 4);
  CHECK(w.floor() == 100);
  // A fifth change: the oldest update goes; everything after 102 is still there.
  CHECK(w.Append(Update(111, {{111, "a"}})) == 1);
  CHECK(w.events() == 3);
  CHECK(w.updates() == 2);
  CHECK(w.floor() == 102);
  CHECK_FALSE(w.Since(101));
  REQUIRE(w.Since(102));
  CHECK(w.Since(102)->size() == 2);
  // Evicted at 104 (its newest change), not at its header 110: a later update may hold nothing in (104, 110].
  CHECK(w.Append(Update(112, {{112, "a"}, {112, "b"}})) == 1);
  CHECK(w.floor() == 104);
  REQUIRE(w.Since(104));
  CHECK(w.Since(104)->size() == 2);
  // One update bigger than the whole bound (a lease's end) is kept alone.
  CHECK(w.Append(Update(120, {{120, "a"}, {120, "a"}, {120, "a"}, {120, "a"}, {120, "a"}, {120, "a"}})) == 2);
  CHECK(w.updates() == 1);
  CHECK(w.events() == 6);
  CHECK(w.floor() == 112);
  REQUIRE(w.Since(112));
  CHECK(w.Since(112)->size() == 1);
  w.Reset(500);
  CHECK((w.events() == 0 && w.updates() == 0 && w.floor() == 500 && w.head() == 500));
}

// A joined watcher as the shared watch drives it: the backlog at join, then every published update.
struct Follower {
  std::string app;
  int64_t after;
  std::vector<int64_t> seen;
  void Take(const WindowUpdate& u) {
    auto m = ForWatcher(*u, app, after);
    if (!m) return;
    for (const auto& e : m->events()) seen.push_back(e.revision());
  }
};

TEST_CASE("watch window: watchers joining at random points each see every later change of their app once, in "
          "order", "[registry]") {
  std::mt19937 rng(15);
  for (int round = 0; round < 50; ++round) {
    WatchWindow w(1 + rng() % 40);
    const int64_t start = 1 + rng() % 1000;
    w.Reset(start);
    int64_t rev = start;
    std::vector<std::pair<int64_t, std::string>> history;  // every change the shared watch published, in order
    std::vector<Follower> followers;
    std::vector<Follower> refused;
    for (int step = 0; step < 300; ++step) {
      if (rng() % 3 == 0) {
        // A watcher joins after a snapshot or resume at a revision at or behind etcd's (rev + a bit:
        // the shared watch may lag etcd), as the registry would.
        Follower f{rng() % 2 ? "" : (rng() % 2 ? "a" : "b"), rev - static_cast<int64_t>(rng() % 30) + 3, {}};
        auto backlog = w.Since(f.after);
        if (!backlog) {
          CHECK(f.after < w.floor());
          refused.push_back(f);
          continue;
        }
        for (const auto& m : Backlog(*backlog, f.app, f.after, 1 + rng() % 8))
          for (const auto& e : m.events()) f.seen.push_back(e.revision());
        followers.push_back(std::move(f));
        continue;
      }
      // One update: 0-3 changes, a header at or past the last.
      std::vector<std::pair<int64_t, std::string>> changes;
      for (int n = static_cast<int>(rng() % 4); n > 0; --n) {
        rev += 1 + static_cast<int64_t>(rng() % 3 == 0);
        if (rng() % 4 != 0) changes.push_back({rev, rng() % 2 ? "a" : "b"});  // two changes in a revision too
        if (!changes.empty() && rng() % 5 == 0) changes.push_back({rev, "a"});
      }
      rev += static_cast<int64_t>(rng() % 3);
      if (changes.empty()) continue;  // the shared watch keeps only updates with changes for watchers
      WindowUpdate u = Update(rev, changes);
      history.insert(history.end(), changes.begin(), changes.end());
      w.Append(u);
      for (auto& f : followers) f.Take(u);
    }
    for (const auto& f : followers) {
      std::vector<int64_t> want;
      for (const auto& [r, app] : history)
        if (r > f.after && (f.app.empty() || app == f.app)) want.push_back(r);
      CHECK(f.seen == want);
    }
  }
}

TEST_CASE("watch window: a joining watcher's backlog is a few messages, never splitting an update", "[registry]") {
  std::vector<WindowUpdate> updates = {
      Update(11, {{10, "a"}, {11, "b"}}),
      Update(13, {{12, "a"}, {13, "a"}}),
      Update(20, {{14, "b"}}),                          // nothing for "a"
      Update(21, {{21, "a"}, {21, "a"}, {21, "a"}}),  // one revision: stays whole
      Update(22, {{22, "a"}}),
  };
  auto every = Backlog(updates, "", 9, 4);
  REQUIRE(every.size() == 3);
  CHECK(Revisions(every[0]) == std::vector<int64_t>{10, 11, 12, 13});
  CHECK(every[0].revision() == 13);
  CHECK(Revisions(every[1]) == std::vector<int64_t>{14, 21, 21, 21});
  CHECK(every[1].revision() == 21);
  CHECK(Revisions(every[2]) == std::vector<int64_t>{22});
  CHECK(every[2].revision() == 22);
  for (const auto& m : every) CHECK(m.kind() == v1::WatchResponse::DELTA);

  auto a = Backlog(updates, "a", 10, 4);
  REQUIRE(a.size() == 2);
  CHECK(Revisions(a[0]) == std::vector<int64_t>{12, 13});
  CHECK(a[0].revision() == 13);  // 20 held nothing for "a": the next message says 22
  CHECK(Revisions(a[1]) == std::vector<int64_t>{21, 21, 21, 22});
  CHECK(a[1].revision() == 22);
  // An update bigger than the chunk is a message of its own.
  auto small = Backlog(updates, "a", 13, 2);
  REQUIRE(small.size() == 2);
  CHECK(Revisions(small[0]) == std::vector<int64_t>{21, 21, 21});
  CHECK(Revisions(small[1]) == std::vector<int64_t>{22});
  CHECK(Backlog(updates, "a", 22, 4).empty());
  CHECK(Backlog({}, "", 0, 4).empty());
}

TEST_CASE("watch window: the shared watch re-opens from its revision unless etcd lost what it needs",
          "[registry]") {
  struct Row {
    bool gone, behind;
    int reopens;
    SharedEnd want;
  };
  for (const Row& r : std::vector<Row>{
           {false, false, 0, SharedEnd::kReopen},  // etcd failing past the client's retries; reads fell behind
           {false, false, kMaxSharedReopens - 1, SharedEnd::kReopen},
           {false, false, kMaxSharedReopens, SharedEnd::kReset},  // re-opening gets nowhere
           {true, false, 0, SharedEnd::kReset},                   // compacted: watchers take snapshots
           {false, true, 0, SharedEnd::kReset},                   // etcd restored behind us
       }) {
    CAPTURE(r.gone, r.behind, r.reopens);
    CHECK(DecideSharedEnd(r.gone, r.behind, r.reopens) == r.want);
  }
}

}  // namespace
}  // namespace skyport::registry
