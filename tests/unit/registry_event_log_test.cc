#include <catch2/catch.hpp>

#include "registry/event_log.h"

namespace skyport::registry {
namespace {

v1::Event Ev(int64_t rev, uint64_t id) {
  v1::Event e;
  e.set_type(v1::Event::ENDPOINT_PUT);
  e.set_revision(rev);
  e.mutable_endpoint()->set_id(id);
  return e;
}

// "rev:id" for each event, to compare whole sequences at once.
std::vector<std::string> Keys(const std::vector<v1::Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(std::to_string(e.revision()) + ":" + std::to_string(e.endpoint().id()));
  return out;
}

using Keyset = std::vector<std::string>;

// Revisions 1..5; revision 3 touched two entries.
EventLog Sample(int64_t history) {
  EventLog log(history);
  log.Append(Ev(1, 10));
  log.Append(Ev(2, 20));
  log.Append(Ev(3, 30));
  log.Append(Ev(3, 31));
  log.Append(Ev(4, 40));
  log.Append(Ev(5, 50));
  return log;
}

TEST_CASE("EventLog::Since: resume from any retained revision", "[registry][events]") {
  EventLog log = Sample(100);
  struct Row {
    int64_t from;
    Keyset want;
  };
  const Row rows[] = {
      {0, {"1:10", "2:20", "3:30", "3:31", "4:40", "5:50"}},
      {1, {"2:20", "3:30", "3:31", "4:40", "5:50"}},
      {2, {"3:30", "3:31", "4:40", "5:50"}},
      {3, {"4:40", "5:50"}},
      {4, {"5:50"}},
      {5, {}},
  };
  for (const Row& r : rows) {
    INFO("from " << r.from);
    auto got = log.Since(r.from, 5);
    REQUIRE(got.has_value());
    CHECK(Keys(*got) == r.want);
  }
}

TEST_CASE("EventLog::Since: ahead of current -> nullopt", "[registry][events]") {
  EventLog log = Sample(100);
  CHECK_FALSE(log.Since(6, 5).has_value());
  CHECK_FALSE(log.Since(100, 5).has_value());
  EventLog empty(10);
  REQUIRE(empty.Since(0, 0).has_value());
  CHECK(empty.Since(0, 0)->empty());
  CHECK_FALSE(empty.Since(1, 0).has_value());
}

TEST_CASE("EventLog::Trim keeps the last `history` revisions, whole", "[registry][events]") {
  struct Row {
    int64_t history, current;
    int64_t compacted;
    size_t size;
  };
  const Row rows[] = {
      {10, 5, 0, 6},  // nothing old enough
      {4, 5, 1, 5},   // drops revision 1
      {3, 5, 2, 4},   // drops 1, 2
      {2, 5, 3, 2},   // drops both events of revision 3
      {1, 5, 4, 1},
      {0, 5, 5, 0},
  };
  for (const Row& r : rows) {
    INFO("history " << r.history);
    EventLog log = Sample(r.history);
    log.Trim(r.current);
    CHECK(log.compacted_through() == r.compacted);
    CHECK(log.size() == r.size);
  }
}

TEST_CASE("EventLog::Since after Trim: too old -> nullopt, boundary resumes", "[registry][events]") {
  EventLog log = Sample(2);
  log.Trim(5);  // keeps revisions 4 and 5
  REQUIRE(log.compacted_through() == 3);
  struct Row {
    int64_t from;
    std::optional<Keyset> want;
  };
  const Row rows[] = {
      {0, std::nullopt},
      {2, std::nullopt},
      {3, Keyset{"4:40", "5:50"}},
      {4, Keyset{"5:50"}},
      {5, Keyset{}},
      {6, std::nullopt},
  };
  for (const Row& r : rows) {
    INFO("from " << r.from);
    auto got = log.Since(r.from, 5);
    REQUIRE(got.has_value() == r.want.has_value());
    if (got) CHECK(Keys(*got) == *r.want);
  }
  // Trimming is monotonic: a lower current later never un-compacts.
  log.Trim(1);
  CHECK(log.compacted_through() == 3);
  CHECK(log.size() == 2);
}

TEST_CASE("EventLog::Restore replaces events and the compaction mark", "[registry][events]") {
  EventLog log = Sample(100);
  log.Restore({Ev(8, 80), Ev(9, 90), Ev(9, 91)}, 7);
  CHECK(log.size() == 3);
  CHECK(log.compacted_through() == 7);
  CHECK_FALSE(log.Since(6, 9).has_value());
  REQUIRE(log.Since(7, 9).has_value());
  CHECK(Keys(*log.Since(7, 9)) == Keyset{"8:80", "9:90", "9:91"});
  CHECK(Keys(*log.Since(8, 9)) == Keyset{"9:90", "9:91"});
  CHECK(log.Since(9, 9)->empty());

  log.Append(Ev(10, 100));
  CHECK(Keys(*log.Since(9, 10)) == Keyset{"10:100"});

  log.Restore({}, 12);
  CHECK(log.size() == 0);
  CHECK_FALSE(log.Since(11, 12).has_value());
  REQUIRE(log.Since(12, 12).has_value());
  CHECK(log.Since(12, 12)->empty());
}

}  // namespace
}  // namespace skyport::registry
