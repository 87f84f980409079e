#include <catch2/catch.hpp>

#include "cli/watch_lines.h"

using namespace skyport;
using namespace skyport::cli;

namespace {

v1::Endpoint Ep(uint64_t id, uint32_t port, int64_t rev) {
  v1::Endpoint e;
  e.set_id(id);
  e.set_app("web");
  e.set_commit("abcd");
  e.set_role("http");
  e.set_host("h");
  e.set_port(port);
  e.set_revision(rev);
  return e;
}

v1::WatchResponse Snapshot(int64_t rev, std::vector<v1::Endpoint> eps, bool more = false) {
  v1::WatchResponse m;
  m.set_kind(v1::WatchResponse::SNAPSHOT);
  m.set_revision(rev);
  m.set_more(more);
  for (auto& e : eps) *m.add_endpoints() = e;
  return m;
}

v1::WatchResponse Delta(int64_t rev, v1::Event::Type type, const v1::Endpoint& ep) {
  v1::WatchResponse m;
  m.set_kind(v1::WatchResponse::DELTA);
  m.set_revision(rev);
  auto* ev = m.add_events();
  ev->set_type(type);
  ev->set_revision(rev);
  *ev->mutable_endpoint() = ep;
  return m;
}

}  // namespace

TEST_CASE("Watch: first snapshot prints puts without reset, then deltas", "[cli]") {
  WatchPrinter p(0);
  p.StartStream();
  auto lines = p.OnMessage(Snapshot(5, {Ep(1, 80, 3)}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        R"({"revision":3,"type":"put","app":"web","commit":"abcd","role":"http","host":"h","port":80,"id":1})");
  CHECK(p.resume_revision() == 5);
  lines = p.OnMessage(Delta(6, v1::Event::ENDPOINT_DELETE, Ep(1, 80, 3)));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(R"("revision":6,"type":"delete")") != std::string::npos);
  CHECK(p.resume_revision() == 6);
}

TEST_CASE("Watch: chunked snapshot is printed only when complete", "[cli]") {
  WatchPrinter p(0);
  p.StartStream();
  CHECK(p.OnMessage(Snapshot(9, {Ep(1, 80, 2)}, true)).empty());
  CHECK(p.resume_revision() == 0);
  // The stream broke mid-snapshot: the partial chunk is dropped.
  p.StartStream();
  CHECK(p.OnMessage(Snapshot(9, {Ep(1, 80, 2)}, true)).empty());
  auto lines = p.OnMessage(Snapshot(9, {Ep(2, 81, 4)}));
  CHECK(lines.size() == 2);
  CHECK(p.resume_revision() == 9);
}

TEST_CASE("Watch: a fresh snapshot after a resume request prints reset first", "[cli]") {
  WatchPrinter p(0);
  p.StartStream();
  p.OnMessage(Snapshot(5, {}));
  p.OnMessage(Delta(7, v1::Event::ENDPOINT_PUT, Ep(3, 90, 7)));
  // Reconnect: the registry restarted and could not resume from 7.
  p.StartStream();
  CHECK(p.resume_revision() == 7);
  auto lines = p.OnMessage(Snapshot(2, {Ep(4, 91, 2)}));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == R"({"type":"reset","revision":2})");
  CHECK(lines[1].find(R"("type":"put")") != std::string::npos);
  CHECK(p.resume_revision() == 2);
}

TEST_CASE("Watch: --from N starts without snapshot; resumed deltas print directly", "[cli]") {
  WatchPrinter p(10);
  p.StartStream();
  v1::WatchResponse first;
  first.set_kind(v1::WatchResponse::DELTA);
  first.set_resumed(true);
  first.set_revision(10);
  CHECK(p.OnMessage(first).empty());
  auto lines = p.OnMessage(Delta(11, v1::Event::ENDPOINT_PUT, Ep(5, 92, 11)));
  CHECK(lines.size() == 1);
  CHECK(p.resume_revision() == 11);
}

TEST_CASE("Watch: route events", "[cli]") {
  WatchPrinter p(1);
  v1::WatchResponse m;
  m.set_kind(v1::WatchResponse::DELTA);
  m.set_revision(3);
  auto* put = m.add_events();
  put->set_type(v1::Event::ROUTE_PUT);
  put->set_revision(2);
  put->mutable_route()->set_app("web");
  (*put->mutable_route()->mutable_weights())["abcd"] = 90;
  (*put->mutable_route()->mutable_weights())["1234"] = 10;
  put->mutable_route()->set_split_id("s1");
  auto* del = m.add_events();
  del->set_type(v1::Event::ROUTE_DELETE);
  del->set_revision(3);
  del->mutable_route()->set_app("web");
  auto lines = p.OnMessage(m);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] ==
        R"({"revision":2,"type":"route-put","app":"web","weights":{"1234":10,"abcd":90},"split_id":"s1","hosts":[],"allow_override":false})");
  CHECK(lines[1] == R"({"revision":3,"type":"route-delete","app":"web"})");
}
