#include "cli/process.h"
#include "core/exec_child.h"
#include "core/http_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace skyport::cli {
namespace {

// Runs in the forked child of a multi-threaded process: async-signal-safe
// calls only, until exec.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, pid_t parent, int report_fd) {
  // Our own group, so a group signal reaches CMD's children too.
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died between fork() and prctl(): then nobody would
  // ever kill us, so give up now.
  if (getppid() != parent) _exit(127);

  // CMD starts clean: default signals, nothing blocked, none of our fds.
  PrepareChildForExec();

  execvpe(argv[0], argv, envp);
  int err = errno;
  ssize_t n = write(report_fd, &err, sizeof err);
  (void)n;
  _exit(127);
}

// The guardian's whole life, in a forked copy of a multi-threaded process:
// async-signal-safe calls only.
[[noreturn]] void GuardGroup(pid_t pgid, pid_t parent) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);  // signals are read with sigwaitinfo
  close_range(3, ~0U, 0);
  prctl(PR_SET_NAME, "skyport-guard");
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  for (;;) {
    // A terminal hangup also sends SIGHUP; only a changed parent means we
    // were orphaned.
    if (getppid() != parent) {
      killpg(pgid, SIGKILL);
      _exit(0);
    }
    sigwaitinfo(&hup, nullptr);
  }
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> CurrentEnv() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

Result<pid_t> SpawnInGroup(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env) {
  if (argv.empty()) return Status::InvalidArgument("no command to run");
  // Everything the child needs is built before fork: it may not allocate.
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(env);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0)
    return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(report[0]);
    close(report[1]);
    return Status::Internal(std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) ExecChild(cargv.data(), cenv.data(), parent, report[1]);

  close(report[1]);
  // Also from this side, so that killpg works even before the child ran
  // (EACCES once it has exec'd is fine: it did it itself).
  setpgid(pid, pid);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return Status::InvalidArgument("cannot run " + argv[0] + ": " + std::strerror(child_errno));
  }
  return pid;
}

Result<pid_t> SpawnGroupGuardian(pid_t pgid) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Status::Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) GuardGroup(pgid, parent);
  return pid;
}

void StopGuardian(pid_t guardian, bool already_reaped) {
  if (guardian <= 0 || already_reaped) return;
  kill(guardian, SIGKILL);
  int st;
  while (waitpid(guardian, &st, 0) < 0 && errno == EINTR) {
  }
}

bool AcceptsConnections(const std::string& host, uint32_t port, int timeout_ms) {
  HttpCall call;
  call.host = host;
  call.port = port;
  return !RunHttpExchange(call, HttpUntil::kConnected, timeout_ms).failure;
}

}  // namespace skyport::cli
