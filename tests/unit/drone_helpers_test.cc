#include <catch2/catch.hpp>

#include <unistd.h>

#include "core/proc_stat.h"
#include "drone/readiness.h"
#include "drone/spawn.h"
#include "drone/state_file.h"

using namespace skyport;
using namespace skyport::drone;

TEST_CASE("ParseProcStat counts fields from the last parenthesis", "[drone]") {
  // A command name with spaces and ')' must not shift the fields.
  std::string text = "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
  auto st = ParseProcStat(text);
  REQUIRE(st.ok());
  CHECK(st->pid == 1234);
  CHECK(st->state == 'S');
  CHECK(st->ppid == 1);
  CHECK(st->pgid == 1234);
  CHECK(st->start_time == 987654);
  CHECK_FALSE(ParseProcStat("1234 (x) S 1 2").ok());
  CHECK_FALSE(ParseProcStat("garbage").ok());

  auto self = ReadProcStat(getpid());
  REQUIRE(self.ok());
  CHECK(self->pid == getpid());
  CHECK(self->start_time > 0);
}

TEST_CASE("State file round trip", "[drone]") {
  std::vector<RunningEntry> in = {{"web@abc/web.0", 100, 100, 5555, {}}, {"web@abc/worker.1", 200, 200, 77, {}}};
  auto out = DecodeState(EncodeState(in));
  REQUIRE(out.ok());
  REQUIRE(out->size() == 2);
  CHECK((*out)[1].key == "web@abc/worker.1");
  CHECK((*out)[1].pid == 200);
  CHECK((*out)[1].pgid == 200);
  CHECK((*out)[1].start_time == 77);
  CHECK_FALSE(DecodeState("{\"processes\": [{\"pid\": \"x\"}]}").ok());
  CHECK_FALSE(DecodeState("not json").ok());
  auto missing = ReadStateFile("/nonexistent/skyport/state.json");
  REQUIRE(missing.ok());
  CHECK(missing->empty());
}

TEST_CASE("State file keeps the processes that escaped a group", "[drone]") {
  RunningEntry e{"web@abc/web.0", 0, 0, 0, {}};
  e.others = {{300, 9}, {301, 10}};
  auto out = DecodeState(EncodeState({e}));
  REQUIRE(out.ok());
  REQUIRE(out->size() == 1);
  CHECK((*out)[0].others == e.others);
  CHECK_FALSE(DecodeState(R"({"processes": [{"pid": 1, "pgid": 1, "start_time": 1, "others": [[1]]}]})").ok());
  CHECK_FALSE(DecodeState(R"({"processes": [{"pid": 1, "pgid": 1, "start_time": 1, "others": 5}]})").ok());
}
