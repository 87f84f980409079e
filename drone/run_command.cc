#include "drone/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>


#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/children.h"
#include "core/clock.h"
#include "core/exec_child.h"

namespace skyport::drone {

Result<CommandResult> RunCommand(const std::string& command, const std::string& dir,
                                 const std::map<std::string, std::string>& env, int64_t timeout_ms,
                                 size_t keep_bytes, const ChildSetup& setup, const std::function<bool()>& cancelled,
                                 const std::function<void(pid_t)>& on_start) {
  // Everything the child needs is built before fork: between fork and exec
  // a multithreaded process may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& kv : env_strings) envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::string sh = "sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  int fds[2], go[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Internal(fmt::format("pipe: {}", std::strerror(errno)));
  if (::pipe2(go, O_CLOEXEC) != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::Internal(fmt::format("pipe: {}", std::strerror(errno)));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {fds[0], fds[1], go[0], go[1]}) ::close(fd);
    return Status::Internal(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    // Wait until the parent has claimed our pid, so no reaper steals our
    // status. EOF comes only once every write end is closed, ours included.
    ::close(go[1]);
    char c;
    while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::setpgid(0, 0);
    PrepareChildForExec();
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (int step = ApplyInChild(setup, -1); step != kStepOk) {
      const char* what = ChildStepName(step);
      ssize_t n = ::write(1, "skyport: cannot ", 16);
      n = ::write(1, what, ::strlen(what));
      n = ::write(1, "\n", 1);
      (void)n;
      _exit(126);
    }
    if (::chdir(dir.c_str()) != 0) _exit(126);
    ::execve("/bin/sh", argv, envp.data());
    _exit(127);
  }
  children::Claim(pid);
  ::close(go[0]);
  ::close(go[1]);  // releases the child
  ::setpgid(pid, pid);
  ::close(fds[1]);
  if (on_start) on_start(pid);
  CommandResult r;
  const int64_t deadline = MonoNowMs() + timeout_ms;
  char buf[4096];
  int status = 0;
  bool reaped = false, eof = false;
  auto append = [&](ssize_t got) {
    r.output.append(buf, static_cast<size_t>(got));
    if (r.output.size() > 2 * keep_bytes) r.output.erase(0, r.output.size() - keep_bytes);
  };
  // The step is over when its shell exits, not at EOF: a background child
  // may hold the pipe (even keep writing to it), and a step that closed its
  // output may still be running and must still time out.
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      break;
    }
    int64_t left = deadline - MonoNowMs();
    if (left <= 0 || (cancelled && cancelled())) {
      (left <= 0 ? r.timed_out : r.cancelled) = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (eof) {
      ::poll(nullptr, 0, static_cast<int>(std::min<int64_t>(left, 10)));
      continue;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100))) > 0) {
      ssize_t got = ::read(fds[0], buf, sizeof buf);
      if (got <= 0) eof = true;  // every writer is gone
      else append(got);
    }
  }
  // What the shell wrote before it exited is still in the pipe; a chatty
  // grandchild must not keep us here, hence no waiting and a bound.
  for (size_t drained = 0; !eof && drained < (size_t{1} << 20);) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got <= 0) break;
    append(got);
    drained += static_cast<size_t>(got);
  }
  ::close(fds[0]);
  while (!reaped && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  children::Release(pid);
  // Grandchildren that outlived the step die with its group.
  ::kill(-pid, SIGKILL);
  if (r.output.size() > keep_bytes) r.output.erase(0, r.output.size() - keep_bytes);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace skyport::drone
