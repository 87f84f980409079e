// StopLeftovers with the drone's name (review of issue 13): what still names
// a recorded instance of this drone is stopped even when the leader is gone;
// another drone's process, or an instance that was not recorded, is not.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/proc_stat.h"
#include "drone/proc_tree.h"
#include "drone/state_file.h"

namespace skyport::drone {
namespace {

pid_t SleepWithEnv(const std::string& drone, const std::string& instance) {
  const std::vector<std::string> env = {"SKYPORT_DRONE=" + drone, "SKYPORT_APP=webapp", "SKYPORT_COMMIT=abc",
                                        "SKYPORT_ROLE=web", "SKYPORT_INSTANCE=" + instance, "PATH=/usr/bin:/bin"};
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    char arg0[] = "sleep", arg1[] = "1000";
    char* argv[] = {arg0, arg1, nullptr};
    execve("/bin/sleep", argv, envp.data());
    _exit(127);
  }
  return pid;
}

bool Alive(pid_t pid) {
  auto st = ReadProcStat(pid);
  return st.ok() && st->state != 'Z';
}

}  // namespace

TEST_CASE("StopLeftovers: stops what names a recorded instance of this drone, nothing else", "[drone]") {
  const pid_t ours = SleepWithEnv("d-review", "0");
  const pid_t other_drone = SleepWithEnv("d-other", "0");
  const pid_t other_instance = SleepWithEnv("d-review", "1");
  REQUIRE(ours > 0);
  REQUIRE(other_drone > 0);
  REQUIRE(other_instance > 0);
  // Once execve has given each its environment.
  for (pid_t p : {ours, other_drone, other_instance})
    for (int i = 0; i < 500 && ReadEnviron(p).find("SKYPORT_DRONE=") == std::string::npos; ++i) usleep(10'000);
  RunningEntry e;
  e.key = "webapp@abc/web.0";
  e.pid = e.pgid = 4'000'000;  // above any pid_max: a leader that is gone
  e.start_time = 1;
  std::vector<std::string> said;
  StopLeftovers({e}, 500, [&](const std::string& l) { said.push_back(l); }, "d-review");
  CHECK_FALSE(Alive(ours));
  CHECK(Alive(other_drone));
  CHECK(Alive(other_instance));
  // Without the drone's name: only the recorded processes (none alive here).
  StopLeftovers({e}, 100, [](const std::string&) {});
  CHECK(Alive(other_instance));
  for (pid_t p : {ours, other_drone, other_instance}) {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  bool named = false;
  for (const auto& l : said) named = named || l.find("left-over process(es) that name the instance") != std::string::npos;
  CHECK(named);
}

}  // namespace skyport::drone
