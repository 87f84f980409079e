#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "core/http_client.h"

namespace skyport {
namespace {

TEST_CASE("FormatHttpRequest: Host, headers in order, a body only with its length", "[core]") {
  HttpCall get;
  get.target = "/healthz?x=1";
  get.host_header = "127.0.0.1:80";
  get.headers = {{"User-Agent", "t"}, {"Connection", "close"}};
  CHECK(FormatHttpRequest(get) ==
        "GET /healthz?x=1 HTTP/1.0\r\nHost: 127.0.0.1:80\r\nUser-Agent: t\r\nConnection: close\r\n\r\n");

  HttpCall post;
  post.method = "POST";
  post.version = "HTTP/1.1";
  post.host_header = "ci";
  post.headers = {{"Content-Type", "application/json"}};
  post.body = "{}";
  CHECK(FormatHttpRequest(post) ==
        "POST / HTTP/1.1\r\nHost: ci\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
}

TEST_CASE("HostHeader: IPv6 literals in brackets, the default port left out", "[core]") {
  CHECK(HostHeader("127.0.0.1", 8080) == "127.0.0.1:8080");
  CHECK(HostHeader("::1", 8080) == "[::1]:8080");  // was "::1:8080": not a valid Host
  CHECK(HostHeader("fe80::1%eth0", 80, 80) == "[fe80::1%eth0]");
  CHECK(HostHeader("example.com", 80, 80) == "example.com");
  CHECK(HostHeader("example.com", 8080, 80) == "example.com:8080");
}

TEST_CASE("ParseHttpStatus", "[core]") {
  struct Case {
    std::string head;
    int want;
  };
  const Case cases[] = {
      {"HTTP/1.0 200 OK\r\n", 200},
      {"HTTP/1.1 302 Found\r\nLocation: /\r\n", 302},
      {"HTTP/1.1 503 Service Unavailable\r\n", 503},
      {"HTTP/1.1 20", -1},  // first line incomplete
      {"", -1},
      {"SSH-2.0-OpenSSH\r\n", 0},
      {"HTTP/1.1 2x0 OK\r\n", 0},
      {"HTTP/1.1 " + std::string(kMaxHttpStatusLine, 'x'), 0},  // no end in sight
  };
  for (const auto& c : cases) {
    INFO(c.head.substr(0, 40));
    CHECK(ParseHttpStatus(c.head) == c.want);
  }
}

TEST_CASE("ParseHttpResponse", "[core]") {
  auto ok =
      ParseHttpResponse("HTTP/1.0 404 Not Found\r\ncontent-type:  text/plain \r\nContent-Length: 3\r\n\r\nab\nextra");
  REQUIRE(ok.ok());
  CHECK(ok->status == 404);
  CHECK(ok->content_type == "text/plain");
  CHECK(ok->body == "ab\n");
  auto to_close = ParseHttpResponse("HTTP/1.0 200 OK\r\n\r\nall of it");
  REQUIRE(to_close.ok());
  CHECK(to_close->content_type.empty());
  CHECK(to_close->body == "all of it");

  struct Case {
    const char* raw;
    const char* want;
  };
  const Case bad[] = {
      {"HTTP/1.0 200 OK\r\n", "malformed HTTP response"},
      {"SSH-2.0-OpenSSH\r\n\r\n", "malformed HTTP response"},
      {"HTTP/1.0 2x0 OK\r\n\r\n", "malformed HTTP response"},
      {"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed HTTP response"},
      {"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nabc", "response cut short (3 of 9 body bytes)"},
  };
  for (const auto& c : bad) {
    INFO(c.raw);
    CHECK(ParseHttpResponse(c.raw).status().message() == c.want);
  }
}

TEST_CASE("HttpFailure::Message", "[core]") {
  using Kind = HttpFailure::Kind;
  struct Case {
    HttpFailure f;
    const char* want;
  };
  const Case cases[] = {
      {{HttpStage::kConnect, Kind::kSystem, "Connection refused"}, "connect: Connection refused"},
      {{HttpStage::kRead, Kind::kTimeout, ""}, "read: timed out after 250 ms"},
      {{HttpStage::kRead, Kind::kTooLarge, "16 MiB"}, "read: response larger than 16 MiB"},
      {{HttpStage::kRead, Kind::kNotHttp, ""}, "read: not an HTTP response"},
      {{HttpStage::kRead, Kind::kClosed, ""}, "read: connection closed before a status line"},
  };
  for (const auto& c : cases) CHECK(c.f.Message(250) == c.want);
}

// A listener on 127.0.0.1 that answers each of `answers` connections with one
// canned reply (after reading the request head), then closes it; "" = read
// the request, answer nothing, keep the connection until the test ends.
class FakeHttpServer {
 public:
  explicit FakeHttpServer(std::vector<std::string> answers) : answers_(std::move(answers)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeHttpServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  uint32_t port() const { return port_; }
  const std::string& last_request() const { return last_request_; }

 private:
  void Serve() {
    for (const std::string& answer : answers_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      last_request_ = req;
      if (answer.empty()) {
        held_.push_back(c);
        continue;
      }
      ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  std::vector<std::string> answers_;
  int fd_ = -1;
  uint32_t port_ = 0;
  std::thread thread_;
  std::vector<int> held_;
  std::string last_request_;
};

HttpCall Local(uint32_t port) {
  return HttpCall{.host = "127.0.0.1", .port = port, .method = "GET", .target = "/x", .version = "HTTP/1.0",
                  .host_header = "h", .headers = {}, .body = {}};
}

TEST_CASE("RunHttpExchange: to the end, to the status line, to the connection", "[core]") {
  const std::string answer = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  FakeHttpServer server({answer, answer, answer});
  HttpOutcome whole = RunHttpExchange(Local(server.port()), HttpUntil::kEnd, 5000);
  CHECK_FALSE(whole.failure);
  CHECK(whole.received == answer);
  CHECK(server.last_request() == "GET /x HTTP/1.0\r\nHost: h\r\n\r\n");
  HttpOutcome line = RunHttpExchange(Local(server.port()), HttpUntil::kStatusLine, 5000);
  CHECK_FALSE(line.failure);
  CHECK(ParseHttpStatus(line.received) == 200);
  HttpOutcome tcp = RunHttpExchange(Local(server.port()), HttpUntil::kConnected, 5000);
  CHECK_FALSE(tcp.failure);
  CHECK(tcp.received.empty());
}

TEST_CASE("RunHttpExchange: failures name their stage and kind", "[core]") {
  using Kind = HttpFailure::Kind;
  SECTION("refused") {
    uint32_t port;
    { port = FakeHttpServer({}).port(); }
    HttpOutcome got = RunHttpExchange(Local(port), HttpUntil::kEnd, 2000);
    REQUIRE(got.failure);
    CHECK(got.failure->stage == HttpStage::kConnect);
    CHECK(got.failure->kind == Kind::kSystem);
  }
  SECTION("unresolvable") {
    HttpCall call = Local(80);
    call.host = "no-such-host.invalid";
    HttpOutcome got = RunHttpExchange(call, HttpUntil::kEnd, 2000);
    REQUIRE(got.failure);
    CHECK(got.failure->stage == HttpStage::kResolve);
  }
  SECTION("silent: the deadline, while reading") {
    FakeHttpServer server({""});
    HttpOutcome got = RunHttpExchange(Local(server.port()), HttpUntil::kEnd, 200);
    REQUIRE(got.failure);
    CHECK(got.failure->stage == HttpStage::kRead);
    CHECK(got.failure->kind == Kind::kTimeout);
  }
  SECTION("too large") {
    FakeHttpServer server({"HTTP/1.0 200 OK\r\n\r\n" + std::string(5000, 'x')});
    HttpOutcome got = RunHttpExchange(Local(server.port()), HttpUntil::kEnd, 5000, 1000);
    REQUIRE(got.failure);
    CHECK(got.failure->kind == Kind::kTooLarge);
    CHECK(got.failure->Message() == "read: response larger than 1000 bytes");
  }
  SECTION("not HTTP, or closed before a status line") {
    FakeHttpServer server({"SSH-2.0-OpenSSH\r\n", "HTTP/1.1 2"});
    HttpOutcome ssh = RunHttpExchange(Local(server.port()), HttpUntil::kStatusLine, 5000);
    REQUIRE(ssh.failure);
    CHECK(ssh.failure->kind == Kind::kNotHttp);
    HttpOutcome cut = RunHttpExchange(Local(server.port()), HttpUntil::kStatusLine, 5000);
    REQUIRE(cut.failure);
    CHECK(cut.failure->kind == Kind::kClosed);
  }
}

}  // namespace
}  // namespace skyport
