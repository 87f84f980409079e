#include <catch2/catch.hpp>

#include "drone/hub_messages.h"

using namespace skyport;
using namespace skyport::drone;

TEST_CASE("hub messages: the state names `skyport ps` shows", "[drone]") {
  struct Row {
    ProcState state;
    bool crash_loop;
    const char* shown;
  };
  const Row rows[] = {
      {ProcState::kStarting, false, "starting"}, {ProcState::kReady, false, "running"},
      {ProcState::kReady, true, "running"},      {ProcState::kBackoff, false, "backoff"},
      {ProcState::kBackoff, true, "crash-loop"}, {ProcState::kStopping, false, "stopping"},
      {ProcState::kFailed, true, "failed"},
  };
  for (const Row& r : rows) {
    ProcStatus p;
    p.key = {"webapp", "abc123", "web", 2};
    p.state = r.state;
    p.crash_loop = r.crash_loop;
    p.pid = 42;
    p.port = 4001;
    p.restarts = 3;
    p.last_error = "exited with code 3";
    p.started_unix_ms = 1'780'000'000'000;
    auto m = StatusMessage(p, "d1");
    INFO(r.shown);
    CHECK(m.state() == r.shown);
    CHECK(m.app() == "webapp");
    CHECK(m.commit() == "abc123");
    CHECK(m.role() == "web");
    CHECK(m.instance() == 2);
    CHECK(m.drone() == "d1");
    CHECK(m.pid() == 42);
    CHECK(m.port() == 4001);
    CHECK(m.restarts() == 3);
    CHECK(m.last_error() == "exited with code 3");
    CHECK(m.started_unix_ms() == 1'780'000'000'000);
  }
}

TEST_CASE("hub messages: progress, done, gone and log lines", "[drone]") {
  auto progress = ProgressMessage(7, "d1", "abc123", DeployStage::kRegistered, "web.0 registered", 99);
  CHECK(progress.command_id() == 7);
  CHECK(progress.progress().stage() == v1::DeployProgress::REGISTERED);
  CHECK(progress.progress().drone() == "d1");
  CHECK(progress.progress().commit() == "abc123");
  CHECK(progress.progress().message() == "web.0 registered");
  CHECK(progress.progress().unix_ms() == 99);
  CHECK(ProgressMessage(7, "d1", "c", DeployStage::kFailed, "", 0).progress().stage() == v1::DeployProgress::FAILED);

  auto failed = DoneMessage(7, Status::Aborted("stopped"));
  CHECK_FALSE(failed.done().ok());
  CHECK(failed.done().error() == "stopped");
  CHECK(DoneMessage(8, Status::Ok()).done().ok());

  auto gone = GoneMessage("webapp", "abc123", "release");
  CHECK(gone.has_gone());
  CHECK(gone.gone().role() == "release");
  CHECK(gone.gone().instance() == 0);

  LogLine l{{"webapp", "abc123", "web", 1}, "stderr", "boom", 5};
  auto log = LogMessage(9, "d1", l);
  CHECK(log.command_id() == 9);
  CHECK(log.log().drone() == "d1");
  CHECK(log.log().role() == "web");
  CHECK(log.log().instance() == 1);
  CHECK(log.log().stream() == "stderr");
  CHECK(log.log().text() == "boom");
  CHECK(log.log().unix_ms() == 5);
}
