#include <catch2/catch.hpp>

#include "hub/deploys/log_follower.h"

using namespace skyport;
using namespace skyport::hub;

namespace {

v1::DroneMessage Line(const std::string& text) {
  v1::DroneMessage m;
  m.mutable_log()->set_text(text);
  return m;
}

v1::DroneMessage DoneMsg() {
  v1::DroneMessage m;
  m.mutable_done()->set_ok(true);
  return m;
}

}  // namespace

TEST_CASE("LogFollowerQueue: bounded; dropped lines become one marker in their place", "[hub]") {
  const std::string text(100, 'x');
  const size_t cost = LogFollowerQueue::Cost(Line(text));
  LogFollowerQueue q(cost * 3);
  CHECK(q.Push("d1", Line(std::string(1, 'a').append(text, 1))));
  CHECK(q.Push("d1", Line(std::string(1, 'b').append(text, 1))));
  CHECK(q.Push("d1", Line(std::string(1, 'c').append(text, 1))));
  CHECK_FALSE(q.Push("d1", Line(text)));  // full: dropped
  CHECK_FALSE(q.Push("d1", Line(text)));
  CHECK(q.Push("d1", DoneMsg()));           // not a log line: always kept (small)
  CHECK(q.dropped() == 2);
  CHECK(q.bytes() <= cost * 3 + 2 * LogFollowerQueue::Cost(v1::DroneMessage()));

  auto pop = [&] { auto i = q.Pop(std::chrono::milliseconds(0)); REQUIRE(i); return *i; };
  CHECK(pop().msg.log().text()[0] == 'a');
  CHECK(pop().msg.log().text()[0] == 'b');
  CHECK(pop().msg.log().text()[0] == 'c');
  // Room again: a new line queues after the marker.
  CHECK(q.Push("d1", Line(std::string(1, 'd').append(text, 1))));
  auto marker = pop();
  CHECK(marker.skipped == 2);
  CHECK(pop().msg.has_done());
  CHECK(pop().msg.log().text()[0] == 'd');
  CHECK_FALSE(q.Pop(std::chrono::milliseconds(0)));
  CHECK(q.bytes() == 0);

  v1::LogLine l = LogFollowerQueue::Marker(2);
  CHECK(l.stream() == "skyport");
  CHECK(l.text().find("2 lines skipped") != std::string::npos);
}
