#include "drone/spawn.h"
#include "core/exec_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace skyport::drone {
namespace {

// What the child tells us when it cannot exec.
struct ChildFailure {
  int stage;  // index into kStages
  int err;
};
constexpr const char* kStages[] = {"setpgid", "chdir", "open /dev/null", "dup2", "exec /bin/sh"};
constexpr int kSetupStage = 100;  // + a ChildStep

// Runs in the forked child of a multi-threaded process: async-signal-safe
// calls only, until exec.
[[noreturn]] void ExecChild(const char* cwd, char* const* argv, char* const* envp, int out_w, int err_w,
                            int report_fd, const ChildSetup& setup, int cgroup_fd) {
  auto fail = [report_fd](int stage) {
    ChildFailure f{stage, errno};
    ssize_t n = write(report_fd, &f, sizeof f);
    (void)n;
    _exit(127);
  };
  // Our own group, so that a group signal reaches the app's children too.
  if (setpgid(0, 0) != 0) fail(0);
  // Before the cwd: as the app user, it must be able to enter it itself.
  if (int step = ApplyInChild(setup, cgroup_fd); step != kStepOk) fail(kSetupStage + step);
  if (cwd != nullptr && chdir(cwd) != 0) fail(1);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) fail(2);
  // dup2 clears close-on-exec on the target, which is what 0..2 need.
  if (dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) fail(3);

  // The app starts clean: default signals (or SIGTERM may not reach it),
  // none of the drone's fds (they would keep our ports busy after we die).
  PrepareChildForExec();
  execve("/bin/sh", argv, envp);
  fail(4);
  _exit(127);  // not reached
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
}

}  // namespace

Result<Spawned> SpawnShell(const SpawnRequest& req) {
  if (req.command.empty()) return Status::InvalidArgument("empty command");
  // Everything the child needs is built before fork: it may not allocate.
  std::vector<std::string> env = req.env;
  std::vector<std::string> args = {"sh", "-c", req.command};
  std::vector<char*> cenv = CStrings(env);
  std::vector<char*> cargv = CStrings(args);
  const char* cwd = req.cwd.empty() ? nullptr : req.cwd.c_str();

  int out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    Status s = Status::Internal(fmt::format("pipe: {}", std::strerror(errno)));
    CloseAll({out[0], out[1], err[0], err[1], report[0], report[1]});
    return s;
  }
  pid_t pid = fork();
  if (pid < 0) {
    Status s = Status::Internal(fmt::format("fork: {}", std::strerror(errno)));
    CloseAll({out[0], out[1], err[0], err[1], report[0], report[1]});
    return s;
  }
  if (pid == 0) ExecChild(cwd, cargv.data(), cenv.data(), out[1], err[1], report[1], req.setup, req.cgroup_procs_fd);

  CloseAll({out[1], err[1], report[1]});
  // Also from this side, so that a group signal works even before the child
  // ran (EACCES once it has exec'd is fine: it did it itself).
  setpgid(pid, pid);
  ChildFailure failure{};
  ssize_t n;
  do {
    n = read(report[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    CloseAll({out[0], err[0]});
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    std::string what;
    if (failure.stage >= kSetupStage) {
      what = ChildStepName(failure.stage - kSetupStage);
    } else {
      int stage = failure.stage >= 0 && failure.stage < 5 ? failure.stage : 4;
      what = kStages[stage];
    }
    const int stage = failure.stage;
    if (stage == 1) what += " " + req.cwd;
    return Status::FailedPrecondition(fmt::format("{}: {}", what, std::strerror(failure.err)));
  }
  for (int fd : {out[0], err[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return Spawned{pid, out[0], err[0]};
}

}  // namespace skyport::drone
