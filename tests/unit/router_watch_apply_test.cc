// The registry watch's apply step (router/watch_apply.h): snapshot chunks,
// deltas, broken streams, and the coalescing decision (publish once per
// drained batch, never half a snapshot).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "router/watch_apply.h"

namespace skyport::router {
namespace {

const std::string kA = "aaaa111122223333444455556666777788889999";

v1::Endpoint Ep(uint64_t id, const std::string& app) {
  v1::Endpoint ep;
  ep.set_id(id);
  ep.set_app(app);
  ep.set_commit(kA);
  ep.set_role("web");
  ep.set_host("10.0.0.1");
  ep.set_port(static_cast<uint32_t>(8000 + id));
  return ep;
}

// One stream step of a scenario: a message (or the end of the stream) and
// what the apply step must say after it when asked at that point.
struct Step {
  enum Kind { kChunk, kLastChunk, kDelta, kEnd, kPublish } kind;
  int64_t revision = 0;
  std::vector<uint64_t> ids;  // chunk: endpoints; delta: endpoints put
  // Expected after the step:
  bool publish = false;   // ShouldPublish(false)
  int64_t applied = 0;    // revision()
  size_t endpoints = 0;   // in the mirror
};

v1::WatchResponse Message(const Step& s) {
  v1::WatchResponse m;
  m.set_revision(s.revision);
  if (s.kind == Step::kDelta) {
    m.set_kind(v1::WatchResponse::DELTA);
    for (uint64_t id : s.ids) {
      auto* e = m.add_events();
      e->set_type(v1::Event::ENDPOINT_PUT);
      *e->mutable_endpoint() = Ep(id, fmt::format("app{}", id % 3));
    }
  } else {
    m.set_kind(v1::WatchResponse::SNAPSHOT);
    m.set_more(s.kind == Step::kChunk);
    for (uint64_t id : s.ids) *m.add_endpoints() = Ep(id, fmt::format("app{}", id % 3));
  }
  return m;
}

void Run(const std::vector<Step>& steps) {
  WatchApply apply("web");
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    INFO("step " << i);
    if (s.kind == Step::kEnd) {
      apply.OnStreamEnd();
    } else if (s.kind == Step::kPublish) {
      REQUIRE(apply.ShouldPublish(false));
      (void)apply.mirror().TakeTouched();
      apply.Published();
    } else {
      v1::WatchResponse m = Message(s);
      apply.OnMessage(m);
    }
    CHECK(apply.ShouldPublish(false) == s.publish);
    CHECK(apply.revision() == s.applied);
    CHECK(apply.mirror().endpoint_count() == s.endpoints);
  }
}

TEST_CASE("WatchApply: a snapshot in chunks publishes once, at its last chunk", "[router][watch_apply]") {
  Run({
      {Step::kChunk, 5, {1, 2}, false, 0, 0},
      {Step::kChunk, 5, {3}, false, 0, 0},
      {Step::kLastChunk, 5, {4}, true, 5, 4},
      {Step::kPublish, 0, {}, false, 5, 4},
  });
}

TEST_CASE("WatchApply: a burst of deltas drained together publishes once", "[router][watch_apply]") {
  Run({
      {Step::kLastChunk, 1, {}, true, 1, 0},  // an empty registry: still a table (healthz)
      {Step::kPublish, 0, {}, false, 1, 0},
      {Step::kDelta, 2, {1}, true, 2, 1},
      {Step::kDelta, 3, {2}, true, 3, 2},
      {Step::kDelta, 4, {3, 4}, true, 4, 4},
      {Step::kPublish, 0, {}, false, 4, 4},  // one table for revisions 2..4
  });
}

TEST_CASE("WatchApply: a stream that breaks mid-snapshot leaves the mirror as it was", "[router][watch_apply]") {
  Run({
      {Step::kLastChunk, 3, {1, 2}, true, 3, 2},
      {Step::kPublish, 0, {}, false, 3, 2},
      {Step::kChunk, 9, {5, 6, 7}, false, 3, 2},  // a fresh snapshot starts (compacted history)...
      {Step::kEnd, 0, {}, false, 3, 2},            // ...and the stream breaks: nothing of it is kept
      {Step::kDelta, 4, {3}, true, 4, 3},          // resumed from 3
      {Step::kPublish, 0, {}, false, 4, 3},
      {Step::kChunk, 9, {8}, false, 4, 3},
      {Step::kLastChunk, 9, {9}, true, 9, 2},  // the snapshot replaces everything
  });
}

TEST_CASE("WatchApply: a revision that moves without touching an app still publishes", "[router][watch_apply]") {
  WatchApply apply("web");
  v1::WatchResponse snap;
  snap.set_kind(v1::WatchResponse::SNAPSHOT);
  snap.set_revision(1);
  apply.OnMessage(snap);
  (void)apply.mirror().TakeTouched();
  apply.Published();
  CHECK_FALSE(apply.ShouldPublish(false));
  CHECK(apply.ShouldPublish(true));  // a host name resolved: its apps are rebuilt

  v1::WatchResponse other;  // an event of a kind the router ignores
  other.set_kind(v1::WatchResponse::DELTA);
  other.set_revision(2);
  other.add_events()->set_type(v1::Event::TYPE_UNSPECIFIED);
  apply.OnMessage(other);
  CHECK_FALSE(apply.mirror().has_touched());
  CHECK(apply.ShouldPublish(false));  // so the router reports revision 2, like the registry
  CHECK(apply.events_applied() == 1);
}

}  // namespace
}  // namespace skyport::router
