#include "drone/readiness.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"

namespace skyport::drone {

int ParseHttpStatus(std::string_view head) {
  size_t eol = head.find('\n');
  if (eol == std::string_view::npos) return head.size() > 1024 ? 0 : -1;
  std::string_view line = head.substr(0, eol);
  if (line.substr(0, 5) != "HTTP/") return 0;
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos || sp + 4 > line.size()) return 0;
  int code = 0;
  for (char c : line.substr(sp + 1, 3)) {
    if (c < '0' || c > '9') return 0;
    code = code * 10 + (c - '0');
  }
  return code;
}

std::unique_ptr<ReadyProbe> ReadyProbe::Begin(const std::string& host, uint32_t port, std::string path) {
  std::unique_ptr<ReadyProbe> p(new ReadyProbe());
  if (!path.empty()) {
    if (path.front() != '/') path.insert(path.begin(), '/');
    p->request_ = fmt::format("GET {} HTTP/1.0\r\nHost: {}:{}\r\nUser-Agent: skyport-drone\r\nConnection: close\r\n\r\n",
                              path, host, port);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    p->Finish(ProbeState::kNotReady, fmt::format("resolve {}: {}", host, gai_strerror(rc)));
    return p;
  }
  // The first address only: readiness targets are local literals in practice.
  p->fd_ = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
  if (p->fd_ < 0) {
    freeaddrinfo(res);
    p->Finish(ProbeState::kNotReady, fmt::format("socket: {}", std::strerror(errno)));
    return p;
  }
  rc = connect(p->fd_, res->ai_addr, res->ai_addrlen);
  int err = errno;
  freeaddrinfo(res);
  if (rc == 0) {
    p->phase_ = Phase::kSending;
    p->Send();
  } else if (err != EINPROGRESS) {
    p->Finish(ProbeState::kNotReady, fmt::format("connect: {}", std::strerror(err)));
  }
  return p;
}

ReadyProbe::~ReadyProbe() {
  if (fd_ >= 0) close(fd_);
}

short ReadyProbe::events() const { return phase_ == Phase::kReading ? POLLIN : POLLOUT; }

void ReadyProbe::Finish(ProbeState s, std::string error) {
  state_ = s;
  error_ = std::move(error);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void ReadyProbe::OnEvents(short revents) {
  if (state_ != ProbeState::kPending) return;
  if (phase_ == Phase::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return Finish(ProbeState::kNotReady, fmt::format("connect: {}", std::strerror(err)));
    if ((revents & POLLOUT) == 0) return;
    phase_ = Phase::kSending;
    return Send();
  }
  if (phase_ == Phase::kSending) return Send();
  Read();
}

void ReadyProbe::Send() {
  if (request_.empty()) return Finish(ProbeState::kReady);
  while (sent_ < request_.size()) {
    ssize_t n = send(fd_, request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return Finish(ProbeState::kNotReady, fmt::format("send: {}", std::strerror(errno)));
    sent_ += static_cast<size_t>(n);
  }
  phase_ = Phase::kReading;
}

void ReadyProbe::Read() {
  char buf[1024];
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return Finish(ProbeState::kNotReady, fmt::format("recv: {}", std::strerror(errno)));
    if (n > 0) response_.append(buf, static_cast<size_t>(n));
    int code = ParseHttpStatus(response_);
    if (code > 0) {
      if (code >= 200 && code < 400) return Finish(ProbeState::kReady);
      return Finish(ProbeState::kNotReady, fmt::format("health check answered {}", code));
    }
    if (code == 0) return Finish(ProbeState::kNotReady, "health check: not an HTTP response");
    if (n == 0) return Finish(ProbeState::kNotReady, "health check: connection closed before a status line");
  }
}

bool CheckReady(const std::string& host, uint32_t port, const std::string& health_path, int timeout_ms) {
  const int64_t deadline = SystemClock::Get()->MonoMs() + timeout_ms;
  auto probe = ReadyProbe::Begin(host, port, health_path);
  while (probe->state() == ProbeState::kPending) {
    int64_t left = deadline - SystemClock::Get()->MonoMs();
    if (left <= 0) return false;
    pollfd p{probe->fd(), probe->events(), 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno != EINTR) return false;
    if (rc > 0) probe->OnEvents(p.revents);
  }
  return probe->state() == ProbeState::kReady;
}

}  // namespace skyport::drone
