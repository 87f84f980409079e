#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/children.h"
#include "drone/run_command.h"
#include "tests/unit/test_util.h"

namespace skyport::drone {
namespace {

using skyport::testing::TempDir;

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// The pid a script wrote to `path`, or 0.
pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

// Gone or a zombie (this test binary may be a child subreaper, so an orphan
// can linger as our zombie until someone reaps it).
bool Dead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

template <class F>
bool Eventually(F cond, int64_t deadline_ms = 5000) {
  auto t0 = Clock::now();
  while (MsSince(t0) < deadline_ms) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

TEST_CASE("RunCommand: exit codes", "[drone][run_command]") {
  TempDir dir;
  struct Row {
    const char* command;
    int want;
  };
  const Row rows[] = {
      {"true", 0},
      {"false", 1},
      {"exit 0", 0},
      {"exit 3", 3},
      {"exit 255", 255},
      {"echo hi; exit 42", 42},
      {"no-such-command-skyport-xyz", 127},
      {"cat", 0},  // stdin is /dev/null: returns at once
  };
  for (const Row& r : rows) {
    INFO(r.command);
    auto res = RunCommand(r.command, dir.path(), {}, 10'000);
    REQUIRE(res.ok());
    CHECK(res->exit_code == r.want);
    CHECK_FALSE(res->timed_out);
  }
}

TEST_CASE("RunCommand: killed by a signal is 128+N", "[drone][run_command]") {
  TempDir dir;
  struct Row {
    const char* command;
    int want;
  };
  const Row rows[] = {
      {"kill -TERM $$", 128 + SIGTERM},
      {"kill -KILL $$", 128 + SIGKILL},
      {"kill -INT $$", 128 + SIGINT},
      {"kill -USR1 $$", 128 + SIGUSR1},
  };
  for (const Row& r : rows) {
    INFO(r.command);
    auto res = RunCommand(r.command, dir.path(), {}, 10'000);
    REQUIRE(res.ok());
    CHECK(res->exit_code == r.want);
    CHECK_FALSE(res->timed_out);
  }
}

TEST_CASE("RunCommand: output is stdout and stderr together", "[drone][run_command]") {
  TempDir dir;
  struct Row {
    const char* command;
    std::string want;
  };
  const Row rows[] = {
      {"echo out", "out\n"},
      {"echo err >&2", "err\n"},
      {"echo one; echo two >&2; echo three", "one\ntwo\nthree\n"},
      {"printf 'no newline'", "no newline"},
      {"true", ""},
      {"echo before; exit 7", "before\n"},
  };
  for (const Row& r : rows) {
    INFO(r.command);
    auto res = RunCommand(r.command, dir.path(), {}, 10'000);
    REQUIRE(res.ok());
    CHECK(res->output == r.want);
  }
}

TEST_CASE("RunCommand: only the tail of the output is kept", "[drone][run_command]") {
  TempDir dir;
  // seq 1 N: the expected text is easy to build here.
  struct Row {
    int lines;
    size_t keep;
  };
  const Row rows[] = {{10, 4096}, {5000, 100}, {20000, 4096}, {20000, 1}, {3, 1000}, {50000, 10000}};
  for (const Row& r : rows) {
    INFO("lines " << r.lines << " keep " << r.keep);
    std::string all;
    for (int i = 1; i <= r.lines; ++i) all += std::to_string(i) + "\n";
    std::string want = all.size() > r.keep ? all.substr(all.size() - r.keep) : all;
    auto res = RunCommand("seq 1 " + std::to_string(r.lines), dir.path(), {}, 10'000, r.keep);
    REQUIRE(res.ok());
    CHECK(res->exit_code == 0);
    CHECK(res->output == want);
  }
  SECTION("default keep is 4096 bytes") {
    auto res = RunCommand("head -c 100000 /dev/zero | tr '\\0' a; printf END", dir.path(), {}, 10'000);
    REQUIRE(res.ok());
    CHECK(res->output.size() == 4096);
    CHECK(res->output == std::string(4093, 'a') + "END");
  }
}

TEST_CASE("RunCommand: env is the whole environment; nothing of the drone's is inherited", "[drone][run_command]") {
  TempDir dir;
  ::setenv("SKYPORT_RUN_COMMAND_TEST_INHERITED", "from-parent", 1);
  struct Row {
    const char* command;
    std::map<std::string, std::string> env;
    std::string want;
  };
  const Row rows[] = {
      {"printf %s \"$FOO\"", {{"FOO", "bar"}}, "bar"},
      {"printf '%s|%s' \"$A\" \"$B\"", {{"A", "1"}, {"B", "two words"}}, "1|two words"},
      {"printf %s \"$Q\"", {{"Q", "it's \"quoted\" $HOME"}}, "it's \"quoted\" $HOME"},
      {"printf %s \"${EMPTY-unset}\"", {{"EMPTY", ""}}, ""},
      // The drone's environment holds its token: a build step gets none of it.
      {"printf %s \"${SKYPORT_RUN_COMMAND_TEST_INHERITED-unset}\"", {}, "unset"},
      {"printf %s \"$SKYPORT_RUN_COMMAND_TEST_INHERITED\"", {{"SKYPORT_RUN_COMMAND_TEST_INHERITED", "override"}},
       "override"},
  };
  for (const Row& r : rows) {
    INFO(r.command);
    auto res = RunCommand(r.command, dir.path(), r.env, 10'000);
    REQUIRE(res.ok());
    CHECK(res->exit_code == 0);
    CHECK(res->output == r.want);
  }
  ::unsetenv("SKYPORT_RUN_COMMAND_TEST_INHERITED");
}

TEST_CASE("RunCommand: runs in the given directory", "[drone][run_command]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/sub dir");
  const std::string real = std::filesystem::canonical(dir.path()).string();
  auto res = RunCommand("pwd -P", dir.path(), {}, 10'000);
  REQUIRE(res.ok());
  CHECK(res->output == real + "\n");

  res = RunCommand("echo made > out.txt", dir.path() + "/sub dir", {}, 10'000);
  REQUIRE(res.ok());
  CHECK(res->exit_code == 0);
  CHECK(std::filesystem::exists(dir.path() + "/sub dir/out.txt"));

  // A directory that does not exist never runs the command.
  res = RunCommand("touch ran", dir.path() + "/missing", {}, 10'000);
  if (res.ok()) CHECK(res->exit_code != 0);
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/missing/ran"));
}

TEST_CASE("RunCommand: timeout kills the whole process group", "[drone][run_command]") {
  TempDir dir;
  auto t0 = Clock::now();
  auto res = RunCommand("echo $$ > shell.pid; sleep 100 & echo $! > bg.pid; echo started; wait", dir.path(), {}, 500);
  int64_t took = MsSince(t0);
  REQUIRE(res.ok());
  CHECK(res->timed_out);
  CHECK(res->exit_code == 128 + SIGKILL);
  CHECK(res->output == "started\n");
  CHECK(took >= 400);
  CHECK(took < 5000);
  pid_t shell = ReadPid(dir.path() + "/shell.pid");
  pid_t bg = ReadPid(dir.path() + "/bg.pid");
  REQUIRE(shell > 0);
  REQUIRE(bg > 0);
  CHECK(Eventually([&] { return Dead(shell); }));
  CHECK(Eventually([&] { return Dead(bg); }));
}

TEST_CASE("RunCommand: timeout holds even when the command closes its output", "[drone][run_command]") {
  TempDir dir;
  auto t0 = Clock::now();
  auto res = RunCommand("echo $$ > shell.pid; echo bye; exec >/dev/null 2>&1; sleep 100", dir.path(), {}, 500);
  int64_t took = MsSince(t0);
  REQUIRE(res.ok());
  CHECK(res->timed_out);
  CHECK(res->exit_code == 128 + SIGKILL);
  CHECK(res->output == "bye\n");
  CHECK(took < 5000);
  pid_t shell = ReadPid(dir.path() + "/shell.pid");
  REQUIRE(shell > 0);
  CHECK(Eventually([&] { return Dead(shell); }));
}

TEST_CASE("RunCommand: a background grandchild holding the pipe does not outlive the step", "[drone][run_command]") {
  TempDir dir;
  struct Row {
    const char* name;
    std::string command;
    int want_exit;
    std::string want_output_prefix;
  };
  const Row rows[] = {
      {"silent grandchild", "sleep 100 & echo $! > bg.pid; echo done; exit 5", 5, "done\n"},
      {"chatty grandchild", "(while :; do echo tick; sleep 0.02; done) & echo $! > bg.pid; echo done; exit 4", 4, ""},
      {"grandchild writing to stderr", "(while :; do echo tick >&2; sleep 0.02; done) & echo $! > bg.pid; exit 0", 0,
       ""},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    std::filesystem::remove(dir.path() + "/bg.pid");
    auto t0 = Clock::now();
    auto res = RunCommand(r.command, dir.path(), {}, 8'000);
    int64_t took = MsSince(t0);
    REQUIRE(res.ok());
    CHECK_FALSE(res->timed_out);
    CHECK(res->exit_code == r.want_exit);
    CHECK(took < 4000);
    CHECK(res->output.starts_with(r.want_output_prefix));
    pid_t bg = ReadPid(dir.path() + "/bg.pid");
    REQUIRE(bg > 0);
    CHECK(Eventually([&] { return Dead(bg); }));
  }
}

TEST_CASE("RunCommand: output written just before exit is not lost", "[drone][run_command]") {
  TempDir dir;
  // The shell exits right after a burst; a grandchild keeps the pipe open so
  // EOF never comes, and the tail must still be read.
  for (int i = 0; i < 5; ++i) {
    auto res = RunCommand("sleep 100 & seq 1 3000; echo LAST", dir.path(), {}, 8'000, 100);
    REQUIRE(res.ok());
    CHECK(res->exit_code == 0);
    CHECK(res->output.size() == 100);
    CHECK(res->output.ends_with("2999\n3000\nLAST\n"));
  }
}

TEST_CASE("RunCommand: the pid is claimed while it runs and released after", "[drone][run_command]") {
  TempDir dir;
  const std::string pid_file = dir.path() + "/shell.pid";
  const std::string go_file = dir.path() + "/go";
  Result<CommandResult> res = Status::Internal("not run");
  std::thread runner([&] {
    res = RunCommand("echo $$ > shell.pid.tmp && mv shell.pid.tmp shell.pid; while [ ! -f go ]; do sleep 0.01; done",
                     dir.path(), {}, 10'000);
  });
  bool started = Eventually([&] { return ReadPid(pid_file) > 0; });
  pid_t pid = ReadPid(pid_file);
  CHECK(started);
  if (started) CHECK(children::IsClaimed(pid));
  std::ofstream(go_file) << "go";
  runner.join();
  REQUIRE(res.ok());
  CHECK(res->exit_code == 0);
  CHECK_FALSE(res->timed_out);
  if (started) CHECK_FALSE(children::IsClaimed(pid));
}

}  // namespace
}  // namespace skyport::drone
