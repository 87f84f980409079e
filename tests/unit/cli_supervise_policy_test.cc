#include <catch2/catch.hpp>

#include <sys/wait.h>

#include "cli/supervise_policy.h"

using namespace skyport;
using namespace skyport::cli;

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
  // The CLI's own settings and secrets never reach the command.
  env = ChildEnv({"SKYPORT_TOKEN=s3cret", "SKYPORT_TOKEN_FILE=/t", "SKYPORT_REGISTRY=r:1", "SKYPORTX=1", "LANG=C"},
                 {{"PORT", "1"}});
  CHECK(env == std::vector<std::string>{"SKYPORTX=1", "LANG=C", "PORT=1"});
}
