#include "core/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"

namespace skyport {

// The resolved addresses, tried in order until one accepts.
struct HttpExchange::Addresses {
  struct One {
    int family;
    sockaddr_storage addr;
    socklen_t len;
  };
  std::vector<One> all;
  size_t next = 0;
  std::string last_error = "no address";
};

const char* HttpStageName(HttpStage stage) {
  switch (stage) {
    case HttpStage::kResolve:
      return "resolve";
    case HttpStage::kConnect:
      return "connect";
    case HttpStage::kSend:
      return "send";
    case HttpStage::kRead:
      return "read";
  }
  return "?";
}

std::string HttpFailure::Message(int timeout_ms) const {
  const char* stage_name = HttpStageName(stage);
  switch (kind) {
    case Kind::kSystem:
      return fmt::format("{}: {}", stage_name, detail);
    case Kind::kTimeout:
      return fmt::format("{}: timed out after {} ms", stage_name, timeout_ms);
    case Kind::kTooLarge:
      return fmt::format("{}: response larger than {}", stage_name, detail);
    case Kind::kNotHttp:
      return fmt::format("{}: not an HTTP response", stage_name);
    case Kind::kClosed:
      return fmt::format("{}: connection closed before a status line", stage_name);
  }
  return stage_name;
}

std::string HostHeader(std::string_view host, uint32_t port, uint32_t default_port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string out = v6 ? fmt::format("[{}]", host) : std::string(host);
  if (port != default_port) out += fmt::format(":{}", port);
  return out;
}

std::string FormatHttpRequest(const HttpCall& call) {
  std::string out = fmt::format("{} {} {}\r\nHost: {}\r\n", call.method, call.target, call.version, call.host_header);
  for (const auto& [name, value] : call.headers) out += fmt::format("{}: {}\r\n", name, value);
  if (call.method != "GET") out += fmt::format("Content-Length: {}\r\n", call.body.size());
  out += "\r\n";
  if (call.method != "GET") out += call.body;
  return out;
}

std::unique_ptr<HttpExchange> HttpExchange::Begin(const HttpCall& call, HttpUntil until, size_t max_response_bytes) {
  std::unique_ptr<HttpExchange> x(new HttpExchange());
  x->until_ = until;
  x->max_response_ = max_response_bytes;
  if (until != HttpUntil::kConnected) x->request_ = FormatHttpRequest(call);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(call.host.c_str(), std::to_string(call.port).c_str(), &hints, &res); rc != 0) {
    x->Fail(HttpFailure::Kind::kSystem, gai_strerror(rc));
    return x;
  }
  x->addrs_ = std::make_unique<Addresses>();
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Addresses::One one{ai->ai_family, {}, static_cast<socklen_t>(ai->ai_addrlen)};
    std::memcpy(&one.addr, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof one.addr));
    x->addrs_->all.push_back(one);
  }
  freeaddrinfo(res);
  x->stage_ = HttpStage::kConnect;
  x->ConnectNext();
  return x;
}

HttpExchange::~HttpExchange() {
  if (fd_ >= 0) ::close(fd_);
}

short HttpExchange::events() const { return stage_ == HttpStage::kRead ? POLLIN : POLLOUT; }

void HttpExchange::Fail(HttpFailure::Kind kind, std::string detail) {
  state_ = State::kFailed;
  failure_ = HttpFailure{stage_, kind, std::move(detail)};
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void HttpExchange::Finish() {
  state_ = State::kDone;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// Starts a connect to the next address; the last address's error when none is left.
void HttpExchange::ConnectNext() {
  while (addrs_->next < addrs_->all.size()) {
    const Addresses::One& a = addrs_->all[addrs_->next++];
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      addrs_->last_error = fmt::format("socket: {}", std::strerror(errno));
      continue;
    }
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a.addr), a.len) == 0) {
      if (until_ == HttpUntil::kConnected) return Finish();
      stage_ = HttpStage::kSend;
      return Send();
    }
    if (errno == EINPROGRESS) return;  // poll for POLLOUT
    addrs_->last_error = std::strerror(errno);
  }
  Fail(HttpFailure::Kind::kSystem, addrs_->last_error);
}

void HttpExchange::OnEvents(short revents) {
  if (state_ != State::kPending) return;
  if (stage_ == HttpStage::kConnect) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      addrs_->last_error = std::strerror(err);
      return ConnectNext();
    }
    if ((revents & POLLOUT) == 0) return;
    if (until_ == HttpUntil::kConnected) return Finish();
    stage_ = HttpStage::kSend;
    return Send();
  }
  if (stage_ == HttpStage::kSend) return Send();
  Read();
}

void HttpExchange::Send() {
  while (sent_ < request_.size()) {
    ssize_t n = ::send(fd_, request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return Fail(HttpFailure::Kind::kSystem, std::strerror(errno));
    sent_ += static_cast<size_t>(n);
  }
  stage_ = HttpStage::kRead;
}

void HttpExchange::Read() {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return Fail(HttpFailure::Kind::kSystem, std::strerror(errno));
    if (received_.size() + static_cast<size_t>(n) > max_response_) {
      const std::string limit = max_response_ % (1 << 20) == 0 ? fmt::format("{} MiB", max_response_ >> 20)
                                                                 : fmt::format("{} bytes", max_response_);
      return Fail(HttpFailure::Kind::kTooLarge, limit);
    }
    received_.append(buf, static_cast<size_t>(n));
    if (until_ == HttpUntil::kStatusLine) {
      const int code = ParseHttpStatus(received_);
      if (code > 0) return Finish();
      if (code == 0) return Fail(HttpFailure::Kind::kNotHttp);
      if (n == 0) return Fail(HttpFailure::Kind::kClosed);
    } else if (n == 0) {
      return Finish();
    }
  }
}

HttpOutcome RunHttpExchange(const HttpCall& call, HttpUntil until, int timeout_ms, size_t max_response_bytes) {
  const int64_t deadline = MonoNowMs() + std::max(timeout_ms, 0);
  auto x = HttpExchange::Begin(call, until, max_response_bytes);
  while (x->state() == HttpExchange::State::kPending) {
    const int64_t left = deadline - MonoNowMs();
    if (left <= 0) return {HttpFailure{x->stage(), HttpFailure::Kind::kTimeout, ""}, x->received()};
    pollfd p{x->fd(), x->events(), 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno != EINTR)
      return {HttpFailure{x->stage(), HttpFailure::Kind::kSystem, std::strerror(errno)}, x->received()};
    if (rc > 0) x->OnEvents(p.revents);
  }
  if (x->state() == HttpExchange::State::kFailed) return {x->failure(), x->received()};
  return {std::nullopt, x->received()};
}

int ParseHttpStatus(std::string_view head) {
  size_t eol = head.find('\n');
  if (eol == std::string_view::npos) return head.size() > kMaxHttpStatusLine ? 0 : -1;
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

namespace {

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

}  // namespace

Result<HttpResponse> ParseHttpResponse(std::string_view raw) {
  auto malformed = [] { return Status::InvalidArgument("malformed HTTP response"); };
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return malformed();
  std::string_view head = raw.substr(0, head_end);
  std::string_view line = head.substr(0, head.find("\r\n"));
  // "HTTP/1.x NNN reason"
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line.find(' ') == std::string_view::npos) return malformed();
  std::string_view code = line.substr(line.find(' ') + 1, 3);
  HttpResponse resp;
  for (char c : code) {
    if (c < '0' || c > '9') return malformed();
    resp.status = resp.status * 10 + (c - '0');
  }
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
  resp.body = std::string(raw.substr(head_end + 4));
  if (length) {
    if (resp.body.size() < *length)
      return Status::InvalidArgument(
          fmt::format("response cut short ({} of {} body bytes)", resp.body.size(), *length));
    resp.body.resize(*length);
  }
  return resp;
}

}  // namespace skyport
