#include "core/http_admin.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "core/token.h"

namespace skyport {
namespace {

constexpr size_t kMaxHead = 8192;
constexpr auto kReadDeadline = std::chrono::seconds(2);

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] != '%') {
      out += s[i];
    } else {
      int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      int lo = hi >= 0 ? HexValue(s[i + 2]) : -1;
      if (lo < 0) return Status::InvalidArgument(fmt::format("query: bad %-escape in \"{}\"", s));
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of header `name` in `head` (the lines after the request line), or "".
std::string_view HeaderValue(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(TrimSpaces(line.substr(0, colon)), name))
      return TrimSpaces(line.substr(colon + 1));
    pos = end;
  }
  return {};
}

// True when `authorization` is "Bearer <token>" (scheme in any case).
bool BearerMatches(std::string_view authorization, const std::string& token) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() || !EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme))
    return false;
  return ConstantTimeEquals(TrimSpaces(authorization.substr(kScheme.size())), token);
}

}  // namespace

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

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = UrlDecode(pair.substr(0, eq));
    if (!key.ok()) return key.status();
    auto value = UrlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value.ok()) return value.status();
    out[*key] = std::move(*value);
  }
  return out;
}

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& address,
                                                        std::map<std::string, Handler> routes, AdminOptions opts) {
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
  return std::unique_ptr<AdminServer>(new AdminServer(fd, port, std::move(routes), std::move(opts)));
}

AdminServer::AdminServer(int fd, int port, std::map<std::string, Handler> routes, AdminOptions opts)
    : fd_(fd), port_(port), routes_(std::move(routes)), opts_(std::move(opts)) {
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
  // One deadline for the whole request head: a client that trickles bytes
  // cannot hold the one thread for longer than that.
  const auto deadline = std::chrono::steady_clock::now() + kReadDeadline;
  timeval tv{2, 0};
  ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[2048];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < kMaxHead) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{conn, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::recv(conn, buf, std::min(sizeof buf, kMaxHead - req.size()), 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  AdminResponse resp;
  std::string extra_headers;
  const std::string_view head(req.data(), std::min(req.size(), req.find("\r\n\r\n")));
  const std::string_view line = head.substr(0, head.find("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (req.size() >= kMaxHead && req.find("\r\n\r\n") == std::string::npos) {
    resp = {431, "text/plain", "request header too large\n"};
  } else if (sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1) {
    resp = {400, "text/plain", "malformed request\n"};
  } else if (line.substr(0, sp1) != "GET") {
    resp = {405, "text/plain", "only GET is served here\n"};
    extra_headers = "Allow: GET\r\n";
  } else {
    AdminRequest r;
    r.method = "GET";
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t q = target.find('?');
    r.path = std::string(target.substr(0, q));
    auto query = ParseQuery(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    if (!query.ok()) {
      resp = {400, "text/plain", query.status().message() + "\n"};
    } else if (!opts_.token.empty() && !opts_.open_paths.count(r.path) &&
               !BearerMatches(HeaderValue(head, "Authorization"), opts_.token)) {
      resp = {401, "text/plain", "missing or wrong bearer token\n"};
      extra_headers = "WWW-Authenticate: Bearer\r\n";
    } else {
      r.query = std::move(*query);
      auto it = routes_.find(r.path);
      resp = it == routes_.end() ? AdminResponse{404, "text/plain", "not found\n"} : it->second(r);
    }
  }
  std::string out = fmt::format("HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
                                resp.status, Reason(resp.status), resp.content_type, resp.body.size(), extra_headers,
                                resp.body);
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(conn, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace skyport
