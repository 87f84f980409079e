#include "core/http_admin.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/exclusive.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "core/prom_text.h"
#include "core/token.h"

namespace skyport {
namespace {

constexpr size_t kMaxHead = 8192;

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
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

Result<AdminOptions> AdminOptionsFromFlagsAndEnv(const AdminFlags& flags, std::string admin_token) {
  const char* env = std::getenv(flags.metrics_token_env.c_str());
  return AdminOptionsFromFlags(flags, std::move(admin_token), env ? env : "");
}

Result<AdminOptions> AdminOptionsFromFlags(const AdminFlags& f, std::string admin_token,
                                           const std::string& env_metrics_token) {
  if (f.max_connections < 1 || f.max_connections > 10'000)
    return Status::InvalidArgument("admin-max-connections: must be within 1..10000");
  if (f.read_timeout_ms < 100 || f.read_timeout_ms > 600'000)
    return Status::InvalidArgument("admin-read-timeout-ms: must be within 100..600000");
  AdminOptions o;
  o.token = std::move(admin_token);
  o.max_connections = f.max_connections;
  o.read_timeout_ms = f.read_timeout_ms;
  if (!f.metrics_token_file.empty()) {
    auto t = LoadToken(f.metrics_token_file, "");
    if (!t.ok()) return Status::InvalidArgument("metrics-" + t.status().message());
    o.metrics_token = std::move(*t);
  } else {
    auto t = LoadToken("", env_metrics_token);
    if (t.ok()) o.metrics_token = std::move(*t);  // unset: /metrics stays as open_paths say
  }
  return o;
}

namespace {

bool IsLoopback(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& address,
                                                        std::map<std::string, Handler> routes, AdminOptions opts) {
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  if (opts.max_connections < 1) return Status::InvalidArgument("admin: max_connections must be >= 1");
  // As the gRPC and traffic listeners: refuse when the address, or its twin on the other
  // loopback/wildcard family, is taken ("localhost:P" would reach either: a split brain).
  if (Status probe = ProbeListen(address); !probe.ok()) return probe;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(hp->second);
  if (int rc = getaddrinfo(hp->first.c_str(), port_str.c_str(), &hints, &res); rc != 0)
    return Status::InvalidArgument(fmt::format("address \"{}\": {}", address, gai_strerror(rc)));
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // never SO_REUSEPORT
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return ListenError(address, err);
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  const bool metrics_open = opts.token.empty() || opts.open_paths.count("/metrics");
  if (routes.count("/metrics") && opts.metrics_token.empty() && metrics_open && !IsLoopback(ss))
    log::Warn("/metrics is served beyond loopback without a token: it names apps and commits; "
              "set --metrics-token-file (or SKYPORT_METRICS_TOKEN), or listen on 127.0.0.1",
              {{"address", address}});
  return std::unique_ptr<AdminServer>(new AdminServer(fd, port, std::move(routes), std::move(opts)));
}

AdminServer::AdminServer(int fd, int port, std::map<std::string, Handler> routes, AdminOptions opts)
    : fd_(fd), port_(port), routes_(std::move(routes)), opts_(std::move(opts)) {
  thread_ = std::thread([this] { Loop(); });
}

AdminServer::~AdminServer() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);  // wakes the poll
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

std::string AdminServer::MetricsText() const {
  PromText out;
  out.Gauge("skyport_admin_connections_open", "Admin/metrics connections open now.", open_.load());
  out.Counter("skyport_admin_connections_total", "Admin/metrics connections accepted.", accepted_.load());
  out.Counter("skyport_admin_connections_shed_total", "Admin/metrics connections closed at the connection cap.",
              shed_.load());
  out.Counter("skyport_admin_timeouts_total",
              "Admin/metrics connections too slow to send a request or take the answer.", timeouts_.load());
  return out.Take();
}

// One client connection: reading its head until `deadline_ms`, then writing
// the answer until the write deadline. Kept in accept order (oldest first).
struct AdminServer::Conn {
  int fd = -1;
  int64_t deadline_ms = 0;
  bool writing = false;
  std::string in;
  std::string out;
  size_t sent = 0;
};

void AdminServer::Loop() {
  std::vector<Conn> conns;
  std::vector<pollfd> fds;
  LogLimiter shed_log, timeout_log;
  auto close_conn = [&](size_t i) {
    --open_;  // before the peer can see the close
    ::close(conns[i].fd);
    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
  };
  auto start_answer = [&](Conn& c, bool timed_out) {
    c.out = Respond(c.in, timed_out);
    c.in.clear();
    c.in.shrink_to_fit();
    c.writing = true;
    c.deadline_ms = MonoNowMs() + opts_.write_timeout_ms;
  };
  while (!stop_) {
    const int64_t now = MonoNowMs();
    int timeout = 200;
    fds.clear();
    fds.push_back({fd_, POLLIN, 0});
    for (const Conn& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
      timeout = static_cast<int>(std::clamp<int64_t>(c.deadline_ms - now, 0, timeout));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
    if (stop_) break;
    // Connections first (indexes match fds[1..] until the list changes).
    const int64_t t = MonoNowMs();
    for (size_t i = conns.size(); i-- > 0;) {
      Conn& c = conns[i];
      const short ev = fds[i + 1].revents;
      if (!c.writing && (ev & (POLLIN | POLLHUP | POLLERR))) {
        char buf[2048];
        ssize_t n = ::recv(c.fd, buf, std::min(sizeof buf, kMaxHead - c.in.size()), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          close_conn(i);
          continue;
        }
        if (n > 0) c.in.append(buf, static_cast<size_t>(n));
        if (c.in.find("\r\n\r\n") != std::string::npos || c.in.size() >= kMaxHead) start_answer(c, false);
      } else if (c.writing && (ev & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          close_conn(i);
          continue;
        }
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (c.sent == c.out.size()) {
          close_conn(i);
          continue;
        }
      }
      if (t >= c.deadline_ms) {
        ++timeouts_;
        uint64_t held = 0;
        if (timeout_log.Allow(t, &held))
          log::Warn("admin client too slow; closing it",
                    {{"phase", c.writing ? "response" : "request head"},
                     {"timeout_ms", c.writing ? opts_.write_timeout_ms : opts_.read_timeout_ms},
                     {"more_since_last_line", held}});
        if (c.writing) {
          close_conn(i);
        } else {
          start_answer(c, true);  // 408; a client that stopped reading too goes at the write deadline
        }
      }
    }
    if (!(fds[0].revents & POLLIN)) continue;
    for (;;) {
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn < 0) break;
      ++accepted_;
      if (static_cast<int>(conns.size()) >= opts_.max_connections) {
        // At the cap: the oldest connection still sending its head goes (an
        // idle or slowloris client), so that a prompt client is served.
        auto victim = std::find_if(conns.begin(), conns.end(), [](const Conn& c) { return !c.writing; });
        ++shed_;
        uint64_t held = 0;
        if (shed_log.Allow(t, &held))
          log::Warn("admin connection cap reached; shedding the oldest idle connection",
                    {{"max_connections", opts_.max_connections}, {"more_since_last_line", held}});
        if (victim == conns.end()) {
          ::close(conn);
          continue;
        }
        close_conn(static_cast<size_t>(victim - conns.begin()));
      }
      Conn c;
      c.fd = conn;
      c.deadline_ms = t + opts_.read_timeout_ms;
      conns.push_back(std::move(c));
      ++open_;
    }
  }
  for (Conn& c : conns) ::close(c.fd);
  open_ = 0;
}

std::string AdminServer::Respond(const std::string& req, bool timed_out) {
  AdminResponse resp;
  std::string extra_headers;
  const std::string_view head(req.data(), std::min(req.size(), req.find("\r\n\r\n")));
  const std::string_view line = head.substr(0, head.find("\r\n"));
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  const bool complete = req.find("\r\n\r\n") != std::string::npos;
  if (!complete && req.size() >= kMaxHead) {
    resp = {431, "text/plain", "request header too large\n"};
  } else if (!complete && timed_out) {
    resp = {408, "text/plain", "request head not received in time\n"};
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
    const std::string_view auth = HeaderValue(head, "Authorization");
    const bool is_metrics = r.path == "/metrics";
    bool allowed;
    if (is_metrics && !opts_.metrics_token.empty())
      allowed = BearerMatches(auth, opts_.metrics_token) || (!opts_.token.empty() && BearerMatches(auth, opts_.token));
    else
      allowed = opts_.token.empty() || opts_.open_paths.count(r.path) || BearerMatches(auth, opts_.token);
    if (!query.ok()) {
      resp = {400, "text/plain", query.status().message() + "\n"};
    } else if (!allowed) {
      resp = {401, "text/plain", "missing or wrong bearer token\n"};
      extra_headers = "WWW-Authenticate: Bearer\r\n";
    } else {
      r.query = std::move(*query);
      auto it = routes_.find(r.path);
      resp = it == routes_.end() ? AdminResponse{404, "text/plain", "not found\n"} : it->second(r);
      if (is_metrics && it != routes_.end() && resp.status == 200) resp.body += MetricsText();
    }
  }
  return fmt::format("HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
                     resp.status, Reason(resp.status), resp.content_type, resp.body.size(), extra_headers, resp.body);
}

}  // namespace skyport
