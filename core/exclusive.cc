#include "core/exclusive.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/http_admin.h"

namespace skyport {
namespace {

std::string ProgramName() {
  const char* name = program_invocation_short_name;  // glibc: basename of argv[0]
  return name && *name ? name : "skyport daemon";
}

}  // namespace

Status ListenError(std::string_view address, int err) {
  if (err == EADDRINUSE)
    return Status::Unavailable(fmt::format("address {} is in use (another {}?)", address, ProgramName()));
  return Status::Unavailable(fmt::format("cannot listen on {}: {}", address, std::strerror(err)));
}

Status ProbeListen(const std::string& address) {
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  if (hp->second == 0) return Status::Ok();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp->second);
  if (int rc = ::getaddrinfo(hp->first.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Status::InvalidArgument(fmt::format("address \"{}\": {}", address, gai_strerror(rc)));
  Status out;
  // Every address the name stands for (localhost: 127.0.0.1 and ::1), as gRPC binds them all.
  for (addrinfo* ai = res; ai && out.ok(); ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (errno == EAFNOSUPPORT) continue;  // no IPv6 on this host: nothing can listen there either
      out = ListenError(address, errno);
      break;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EADDRNOTAVAIL) out = ListenError(address, errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return out;
}

Result<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::InvalidArgument(fmt::format("data: cannot create {}: {}", dir, ec.message()));
  const std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Status::InvalidArgument(fmt::format("data: cannot open {}: {}", path, std::strerror(errno)));
  int rc;
  do rc = ::flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK)
      return Status::Internal(fmt::format("data: cannot lock {}: {}", path, std::strerror(err)));
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    pid.erase(pid.find_last_not_of(" \n") + 1);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) pid = "?";
    return Status::FailedPrecondition(
        fmt::format("data dir {} is in use by pid {} (another {}?): stop it, or give this one another --data", dir,
                    pid, ProgramName()));
  }
  // Ours now: record the pid for the next one's message (best effort: the lock is what counts).
  const std::string text = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    // A full disk must not stop the daemon; the message then shows pid "?".
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd, path));
}

DataDirLock::~DataDirLock() { ::close(fd_); }

}  // namespace skyport
