#include <catch2/catch.hpp>

#include <sys/wait.h>

#include "cli/supervise_policy.h"

using namespace skyport;
using namespace skyport::cli;

TEST_CASE("KeepAlive outcomes", "[cli]") {
  CHECK(OnKeepAlive(Status::Ok()) == LeaseAction::kKeep);
  CHECK(OnKeepAlive(Status::NotFound("lease 7")) == LeaseAction::kRenew);
  CHECK(OnKeepAlive(Status::Unavailable("down")) == LeaseAction::kRetry);
  CHECK(OnKeepAlive(Status(Code::kDeadlineExceeded, "slow")) == LeaseAction::kRetry);
  CHECK(OnKeepAlive(Status::Unauthenticated("token")) == LeaseAction::kRetry);
}

TEST_CASE("KeepAlive interval is a third of the TTL, with a floor", "[cli]") {
  CHECK(KeepAliveIntervalMs(10) == 3333);
  CHECK(KeepAliveIntervalMs(30) == 10000);
  CHECK(KeepAliveIntervalMs(0) == 200);
}

TEST_CASE("Exit code from wait status", "[cli]") {
  CHECK(ExitCodeFromWaitStatus(0) == 0);
  CHECK(ExitCodeFromWaitStatus(3 << 8) == 3);  // exited 3
  CHECK(ExitCodeFromWaitStatus(9) == 137);     // killed by SIGKILL
  CHECK(ExitCodeFromWaitStatus(15) == 143);    // SIGTERM
}

TEST_CASE("ChildEnv overrides and adds", "[cli]") {
  auto env = ChildEnv({"PATH=/bin", "PORT=1", "HOME=/root", "NOEQ"},
                      {{"PORT", "15194"}, {"SKYPORT_APP", "web"}});
  CHECK(env == std::vector<std::string>{"PATH=/bin", "HOME=/root", "NOEQ", "PORT=15194",
                                        "SKYPORT_APP=web"});
}
