#include "core/exclusive.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
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

// Binds (SO_REUSEADDR) and closes: 0, or the errno. EAFNOSUPPORT and
// EADDRNOTAVAIL (no IPv6, or no such local address) count as free.
int ProbeBind(const sockaddr* sa, socklen_t len) {
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno == EAFNOSUPPORT ? 0 : errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int err = ::bind(fd, sa, len) != 0 && errno != EADDRNOTAVAIL ? errno : 0;
  ::close(fd);
  return err;
}

// For a loopback or wildcard address, the same kind on the other family
// (127.0.0.1 <-> ::1, 0.0.0.0 <-> ::), same port; false for any other address.
bool OtherFamily(const sockaddr* sa, sockaddr_storage& other, socklen_t& len, std::string& text) {
  other = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    const uint32_t a = ntohl(in->sin_addr.s_addr);
    const bool loopback = (a >> 24) == 127;
    if (!loopback && a != INADDR_ANY) return false;
    auto* o = reinterpret_cast<sockaddr_in6*>(&other);
    o->sin6_family = AF_INET6;
    o->sin6_port = in->sin_port;
    o->sin6_addr = loopback ? in6addr_loopback : in6addr_any;
    len = sizeof *o;
    text = fmt::format("[{}]:{}", loopback ? "::1" : "::", ntohs(in->sin_port));
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const bool loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    if (!loopback && !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) return false;
    auto* o = reinterpret_cast<sockaddr_in*>(&other);
    o->sin_family = AF_INET;
    o->sin_port = in6->sin6_port;
    o->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    len = sizeof *o;
    text = fmt::format("{}:{}", loopback ? "127.0.0.1" : "0.0.0.0", ntohs(in6->sin6_port));
    return true;
  }
  return false;
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
    // No IPv6 on this host (EAFNOSUPPORT, EADDRNOTAVAIL): nothing can listen there either.
    if (int err = ProbeBind(ai->ai_addr, ai->ai_addrlen); err != 0) {
      out = ListenError(address, err);
      break;
    }
    // A daemon on 127.0.0.1:P and another on [::1]:P (or 0.0.0.0 and [::])
    // would both be "localhost:P": clients would reach either, a split brain.
    sockaddr_storage other;
    socklen_t other_len = 0;
    std::string other_text;
    if (!OtherFamily(ai->ai_addr, other, other_len, other_text)) continue;
    if (int err = ProbeBind(reinterpret_cast<const sockaddr*>(&other), other_len); err == EADDRINUSE) {
      out = Status::Unavailable(fmt::format("address {} is in use (another {}?): clients of "
                                            "localhost:{} would reach either",
                                            other_text, ProgramName(), hp->second));
    }
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
    std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
    text = text.substr(0, text.find_last_not_of(" \n") + 1);  // npos + 1 = 0: all blank
    const bool numeric = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
    const std::string_view pid = numeric ? text : "?";
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
