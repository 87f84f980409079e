// AdminGet: the blocking client of AdminServer (see http_admin.h).
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "core/http_admin.h"

namespace skyport {
namespace {

constexpr size_t kMaxResponse = 16 << 20;

using Clock = std::chrono::steady_clock;

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// Waits for `events` on fd until the deadline: true when ready.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    int ms = MsLeft(deadline);
    if (ms == 0) return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A connected non-blocking socket to host:port, or why not.
Result<int> Connect(const std::string& address, const std::string& host, int port, Clock::time_point deadline,
                    int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res); rc != 0)
    return Status::Unavailable(fmt::format("cannot connect to {}: {}", address, gai_strerror(rc)));
  std::string err = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      err = std::strerror(errno);
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    if (errno == EINPROGRESS) {
      if (!WaitFor(fd, POLLOUT, deadline)) {
        err = fmt::format("no connection within {} ms", timeout_ms);
        ::close(fd);
        fd = -1;
        break;  // the deadline is spent: no time for other addresses
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error == 0) break;
      err = std::strerror(so_error);
    } else {
      err = std::strerror(errno);
    }
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return Status::Unavailable(fmt::format("cannot connect to {}: {}", address, err));
  return fd;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

Result<AdminResponse> ParseResponse(const std::string& address, const std::string& raw) {
  auto malformed = [&] { return Status::Unavailable(fmt::format("{}: malformed HTTP response", address)); };
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return malformed();
  std::string_view head(raw.data(), head_end);
  std::string_view line = head.substr(0, head.find("\r\n"));
  // "HTTP/1.x NNN reason"
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line.find(' ') == std::string_view::npos) return malformed();
  std::string_view code = line.substr(line.find(' ') + 1, 3);
  AdminResponse resp;
  resp.status = 0;
  for (char c : code) {
    if (c < '0' || c > '9') return malformed();
    resp.status = resp.status * 10 + (c - '0');
  }
  resp.content_type.clear();
  std::optional<size_t> length;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    std::string_view h = head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (StartsWithIgnoreCase(h, "content-type:")) {
      resp.content_type = std::string(Trim(h.substr(13)));
    } else if (StartsWithIgnoreCase(h, "content-length:")) {
      size_t n = 0;
      std::string_view v = Trim(h.substr(15));
      if (v.empty() || v.size() > 12) return malformed();
      for (char c : v) {
        if (c < '0' || c > '9') return malformed();
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      length = n;
    }
    pos = end;
  }
  resp.body = raw.substr(head_end + 4);
  if (length) {
    if (resp.body.size() < *length)
      return Status::Unavailable(
          fmt::format("{}: response cut short ({} of {} body bytes)", address, resp.body.size(), *length));
    resp.body.resize(*length);
  }
  return resp;
}

}  // namespace

Result<AdminResponse> AdminGet(const std::string& address, const std::string& path_and_query,
                               const std::string& token, int timeout_ms) {
  if (path_and_query.empty() || path_and_query.front() != '/' ||
      path_and_query.find_first_of(" \r\n") != std::string::npos)
    return Status::InvalidArgument(fmt::format("path \"{}\": must start with / and hold no spaces", path_and_query));
  if (token.find_first_of("\r\n") != std::string::npos)
    return Status::InvalidArgument("token: must not hold line breaks");
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
  auto connected = Connect(address, hp->first, hp->second, deadline, timeout_ms);
  if (!connected.ok()) return connected.status();
  Fd fd(*connected);
  auto timed_out = [&] { return Status::Unavailable(fmt::format("{}: no answer within {} ms", address, timeout_ms)); };

  std::string req = fmt::format("GET {} HTTP/1.0\r\nHost: {}\r\n", path_and_query, address);
  if (!token.empty()) req += fmt::format("Authorization: Bearer {}\r\n", token);
  req += "\r\n";
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(fd.get(), POLLOUT, deadline)) return timed_out();
    } else {
      return Status::Unavailable(fmt::format("{}: send: {}", address, std::strerror(errno)));
    }
  }

  std::string raw;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n > 0) {
      if (raw.size() + static_cast<size_t>(n) > kMaxResponse)
        return Status::ResourceExhausted(fmt::format("{}: response larger than {} MiB", address, kMaxResponse >> 20));
      raw.append(buf, static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(fd.get(), POLLIN, deadline)) return timed_out();
    } else {
      return Status::Unavailable(fmt::format("{}: recv: {}", address, std::strerror(errno)));
    }
  }
  return ParseResponse(address, raw);
}

}  // namespace skyport
