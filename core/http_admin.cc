#include "core/http_admin.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

namespace skyport {

Result<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size())
    return Status::InvalidArgument(fmt::format("address \"{}\": expected HOST:PORT", address));
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535)
      return Status::InvalidArgument(fmt::format("address \"{}\": bad port", address));
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return Status::InvalidArgument(fmt::format("address \"{}\": port out of range", address));
  return std::make_pair(host.empty() ? std::string("0.0.0.0") : host, port);
}

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& address,
                                                        std::map<std::string, Handler> routes) {
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(hp->second);
  if (int rc = getaddrinfo(hp->first.c_str(), port_str.c_str(), &hints, &res); rc != 0)
    return Status::InvalidArgument(fmt::format("address \"{}\": {}", address, gai_strerror(rc)));
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
    std::string err = std::strerror(errno);
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return Status::Unavailable(fmt::format("cannot listen on {}: {}", address, err));
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return std::unique_ptr<AdminServer>(new AdminServer(fd, port, std::move(routes)));
}

AdminServer::AdminServer(int fd, int port, std::map<std::string, Handler> routes)
    : fd_(fd), port_(port), routes_(std::move(routes)) {
  thread_ = std::thread([this] { Loop(); });
}

AdminServer::~AdminServer() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void AdminServer::Loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    Serve(conn);
    ::close(conn);
  }
}

void AdminServer::Serve(int conn) {
  timeval tv{2, 0};
  ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[2048];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
    ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  AdminResponse resp;
  auto sp1 = req.find(' ');
  auto sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
  if (req.size() >= 8192) {
    resp = {431, "text/plain", "request header too large\n"};
  } else if (sp2 == std::string::npos) {
    resp = {400, "text/plain", "malformed request\n"};
  } else if (req.compare(0, sp1, "GET") != 0) {
    resp = {405, "text/plain", "only GET is served here\n"};
  } else {
    std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    auto it = routes_.find(path);
    resp = it == routes_.end() ? AdminResponse{404, "text/plain", "not found\n"} : it->second();
  }
  const char* reason = resp.status == 200 ? "OK" : resp.status == 404 ? "Not Found" : "Error";
  std::string out = fmt::format("HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                resp.status, reason, resp.content_type, resp.body.size(), resp.body);
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(conn, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace skyport
