#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/http_admin.h"

namespace skyport {
namespace {

TEST_CASE("SplitHostPort: accepted forms", "[core][http_admin]") {
  struct Row {
    std::string in;
    std::string host;
    int port;
  };
  const Row rows[] = {
      {"127.0.0.1:8080", "127.0.0.1", 8080},
      {"localhost:0", "localhost", 0},
      {":9100", "0.0.0.0", 9100},
      {"[::1]:443", "::1", 443},
      {"[::]:1", "::", 1},
      {"host:65535", "host", 65535},
      {"host:007", "host", 7},
      {"a:b:80", "a:b", 80},  // the last colon separates the port
  };
  for (const Row& r : rows) {
    INFO(r.in);
    auto got = SplitHostPort(r.in);
    REQUIRE(got.ok());
    CHECK(got->first == r.host);
    CHECK(got->second == r.port);
  }
}

TEST_CASE("SplitHostPort: rejected forms", "[core][http_admin]") {
  struct Row {
    std::string in;
    std::string message;
  };
  const Row rows[] = {
      {"", "address \"\": expected HOST:PORT"},
      {"localhost", "address \"localhost\": expected HOST:PORT"},
      {"host:", "address \"host:\": expected HOST:PORT"},
      {"host:65536", "address \"host:65536\": port out of range"},
      {"host:99999999999999999999", "address \"host:99999999999999999999\": bad port"},
      {"host:80a", "address \"host:80a\": bad port"},
      {"host:-1", "address \"host:-1\": bad port"},
      {"host: 80", "address \"host: 80\": bad port"},
      {"[::1]", "address \"[::1]\": bad port"},
  };
  for (const Row& r : rows) {
    INFO(r.in);
    auto got = SplitHostPort(r.in);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalidArgument);
    CHECK(got.status().message() == r.message);
  }
}

// Sends `request` to 127.0.0.1:port and returns everything the server sends back.
std::string Exchange(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

TEST_CASE("AdminServer: serves routes, 404 for others, 405 for non-GET", "[core][http_admin]") {
  std::atomic<int> calls{0};
  std::map<std::string, AdminServer::Handler> routes;
  routes["/healthz"] = [&](const AdminRequest&) {
    ++calls;
    return AdminResponse{200, "text/plain; charset=utf-8", "ok\n"};
  };
  routes["/metrics"] = [](const AdminRequest&) { return AdminResponse{200, "text/plain; version=0.0.4", "m 1\n"}; };
  routes["/busy"] = [](const AdminRequest&) { return AdminResponse{503, "text/plain", "busy\n"}; };
  auto server = AdminServer::Start("127.0.0.1:0", routes);
  REQUIRE(server.ok());
  const int port = (*server)->port();
  REQUIRE(port > 0);

  struct Row {
    std::string request;
    std::string response;
  };
  const Row rows[] = {
      {"GET /healthz HTTP/1.0\r\n\r\n",
       "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
       "Connection: close\r\n\r\nok\n"},
      {"GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n",
       "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
       "Connection: close\r\n\r\nok\n"},
      {"GET /nope HTTP/1.0\r\n\r\n",
       "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
       "Connection: close\r\n\r\nnot found\n"},
      {"GET /healthzz HTTP/1.0\r\n\r\n",
       "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
       "Connection: close\r\n\r\nnot found\n"},
      {"POST /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
       "HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
       "Allow: GET\r\nConnection: close\r\n\r\nonly GET is served here\n"},
      {"GETX /healthz HTTP/1.0\r\n\r\n",
       "HTTP/1.0 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
       "Allow: GET\r\nConnection: close\r\n\r\nonly GET is served here\n"},
      {"garbage\r\n\r\n",
       "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
       "Connection: close\r\n\r\nmalformed request\n"},
      {"GET /busy HTTP/1.0\r\n\r\n",
       "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
       "Connection: close\r\n\r\nbusy\n"},
  };
  for (const Row& r : rows) {
    INFO(r.request);
    CHECK(Exchange(port, r.request) == r.response);
  }
  CHECK(calls.load() == 2);  // POST never reaches the handler
  // /metrics: the route's text, then the listener's own counters.
  const std::string metrics = Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  CHECK_THAT(metrics, Catch::StartsWith("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"));
  CHECK_THAT(metrics, Catch::Contains("\r\n\r\nm 1\n# HELP skyport_admin_connections_open "));
  CHECK_THAT(metrics, Catch::Contains("\nskyport_admin_connections_total 9\n"));
}

TEST_CASE("AdminServer: oversized request headers get 431", "[core][http_admin]") {
  auto server = AdminServer::Start("127.0.0.1:0", {});
  REQUIRE(server.ok());
  // Exactly the limit, so that the server has read everything before it
  // answers and closes (unread data would turn the close into a reset).
  std::string req = "GET /" + std::string(8192 - 5, 'a');
  std::string got = Exchange((*server)->port(), req);
  CHECK_THAT(got, Catch::StartsWith("HTTP/1.0 431 Request Header Fields Too Large\r\n"));
}

TEST_CASE("AdminServer: bad addresses fail to start", "[core][http_admin]") {
  auto bad = AdminServer::Start("127.0.0.1", {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);

  auto first = AdminServer::Start("127.0.0.1:0", {});
  REQUIRE(first.ok());
  // SO_REUSEADDR does not allow two listeners on one port.
  auto taken = AdminServer::Start("127.0.0.1:" + std::to_string((*first)->port()), {});
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.status().code() == Code::kUnavailable);
}

TEST_CASE("AdminServer: a port taken on the other loopback family fails to start", "[core][http_admin]") {
  // Someone listens on [::1]:P: an admin listener on 127.0.0.1:P would share "localhost:P"
  // with it. Skipped where the host has no IPv6 loopback.
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return;
  }
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string port = std::to_string(ntohs(a.sin6_port));
  auto twin = AdminServer::Start("127.0.0.1:" + port, {});
  ::close(fd);
  REQUIRE_FALSE(twin.ok());
  CHECK(twin.status().code() == Code::kUnavailable);
  CHECK_THAT(twin.status().message(), Catch::Contains("address [::1]:" + port + " is in use"));
}

TEST_CASE("ParseQuery: decoding", "[core][http_admin]") {
  struct Row {
    std::string in;
    std::map<std::string, std::string> want;
  };
  const Row rows[] = {
      {"", {}},
      {"app=shop&window=60", {{"app", "shop"}, {"window", "60"}}},
      {"a=x%20y+z&b=%2F%3d%C3%A9", {{"a", "x y z"}, {"b", "/=\xC3\xA9"}}},
      {"flag&empty=&=v", {{"flag", ""}, {"empty", ""}, {"", "v"}}},
      {"a=1&&a=2&", {{"a", "2"}}},  // empty pairs skipped, the last repeat wins
      {"k%3Dx=1=2", {{"k=x", "1=2"}}},
  };
  for (const Row& r : rows) {
    INFO(r.in);
    auto got = ParseQuery(r.in);
    REQUIRE(got.ok());
    CHECK(*got == r.want);
  }
  for (std::string bad : {"a=%", "a=%2", "a=%zz", "%g0=1"}) {
    INFO(bad);
    auto got = ParseQuery(bad);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("AdminServer: handlers get the method, path and decoded query", "[core][http_admin]") {
  std::map<std::string, AdminServer::Handler> routes;
  routes["/echo"] = [](const AdminRequest& r) {
    std::string body = r.method + " " + r.path + "\n";
    for (const auto& [k, v] : r.query) body += k + "=" + v + "\n";
    return AdminResponse{200, "text/plain", body};
  };
  auto server = AdminServer::Start("127.0.0.1:0", routes);
  REQUIRE(server.ok());
  const int port = (*server)->port();
  CHECK_THAT(Exchange(port, "GET /echo?app=shop&window=60&x=a%26b+c HTTP/1.0\r\n\r\n"),
             Catch::EndsWith("\r\n\r\nGET /echo\napp=shop\nwindow=60\nx=a&b c\n"));
  CHECK_THAT(Exchange(port, "GET /echo HTTP/1.0\r\n\r\n"), Catch::EndsWith("\r\n\r\nGET /echo\n"));
  CHECK_THAT(Exchange(port, "GET /echo?x=%q1 HTTP/1.0\r\n\r\n"), Catch::StartsWith("HTTP/1.0 400 Bad Request\r\n"));
}

TEST_CASE("AdminServer: bearer token for all but the open paths", "[core][http_admin]") {
  std::atomic<int> calls{0};
  std::map<std::string, AdminServer::Handler> routes;
  auto ok = [&](const AdminRequest&) {
    ++calls;
    return AdminResponse{200, "text/plain", "ok\n"};
  };
  routes["/healthz"] = ok;
  routes["/metrics"] = ok;
  routes["/stats"] = ok;
  AdminOptions opts;
  opts.token = "s3cret";
  auto server = AdminServer::Start("127.0.0.1:0", routes, opts);
  REQUIRE(server.ok());
  const int port = (*server)->port();
  const std::string unauthorized =
      "HTTP/1.0 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
      "WWW-Authenticate: Bearer\r\nConnection: close\r\n\r\nmissing or wrong bearer token\n";

  struct Row {
    std::string request;
    bool served;
  };
  const Row rows[] = {
      {"GET /healthz HTTP/1.0\r\n\r\n", true},
      {"GET /metrics HTTP/1.0\r\n\r\n", true},
      {"GET /stats HTTP/1.0\r\n\r\n", false},
      {"GET /stats HTTP/1.0\r\nAuthorization: Bearer s3cret\r\n\r\n", true},
      {"GET /stats?app=x HTTP/1.0\r\nHost: h\r\nauthorization:   bearer s3cret  \r\n\r\n", true},
      {"GET /stats HTTP/1.0\r\nAuthorization: Bearer s3cre\r\n\r\n", false},
      {"GET /stats HTTP/1.0\r\nAuthorization: Bearer s3crett\r\n\r\n", false},
      {"GET /stats HTTP/1.0\r\nAuthorization: Basic s3cret\r\n\r\n", false},
      {"GET /stats HTTP/1.0\r\nAuthorization: s3cret\r\n\r\n", false},
      {"GET /stats HTTP/1.0\r\nX-Authorization: Bearer s3cret\r\n\r\n", false},
      {"GET /stats HTTP/1.0\r\nAuthorization: Bearer \r\n\r\n", false},
      // Unknown paths need the token too: no probing for what exists.
      {"GET /nope HTTP/1.0\r\n\r\n", false},
  };
  int served = 0;
  for (const Row& r : rows) {
    INFO(r.request);
    std::string got = Exchange(port, r.request);
    if (r.served) {
      ++served;
      CHECK_THAT(got, Catch::StartsWith("HTTP/1.0 200 OK\r\n"));
    } else {
      CHECK(got == unauthorized);
    }
  }
  CHECK(calls.load() == served);
  CHECK_THAT(Exchange(port, "GET /nope HTTP/1.0\r\nAuthorization: Bearer s3cret\r\n\r\n"),
             Catch::StartsWith("HTTP/1.0 404 Not Found\r\n"));

  // Open paths are configurable.
  AdminOptions closed;
  closed.token = "s3cret";
  closed.open_paths = {};
  auto strict = AdminServer::Start("127.0.0.1:0", routes, closed);
  REQUIRE(strict.ok());
  CHECK(Exchange((*strict)->port(), "GET /healthz HTTP/1.0\r\n\r\n") == unauthorized);
}

TEST_CASE("AdminServer: a trickling client is cut off at the read deadline", "[core][http_admin]") {
  auto server = AdminServer::Start("127.0.0.1:0", {});
  REQUIRE(server.ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>((*server)->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const auto start = std::chrono::steady_clock::now();
  std::string got;
  bool ended = false;  // answered or hung up
  ::send(fd, "GET /x HTTP/1.0\r\n", 17, MSG_NOSIGNAL);
  // One header line every 200 ms, never the blank line that ends the head.
  while (!ended && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    ended = n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
            ::send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) <= 0;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ::close(fd);
  CHECK(ended);
  CHECK(elapsed < std::chrono::milliseconds(3500));
  // Told why (unless a late line turned the close into a reset).
  if (!got.empty()) CHECK_THAT(got, Catch::StartsWith("HTTP/1.0 408 Request Timeout\r\n"));
}

TEST_CASE("AdminGet: status, content type and body from AdminServer", "[core][http_admin]") {
  std::map<std::string, AdminServer::Handler> routes;
  routes["/stats"] = [](const AdminRequest& r) {
    auto it = r.query.find("app");
    return AdminResponse{200, "application/json", "{\"app\":\"" + (it == r.query.end() ? "" : it->second) + "\"}"};
  };
  routes["/big"] = [](const AdminRequest&) { return AdminResponse{200, "text/plain", std::string(17 << 20, 'x')}; };
  routes["/large"] = [](const AdminRequest&) { return AdminResponse{200, "text/plain", std::string(1 << 20, 'y')}; };
  AdminOptions opts;
  opts.token = "tok";
  auto server = AdminServer::Start("127.0.0.1:0", routes, opts);
  REQUIRE(server.ok());
  const std::string address = "127.0.0.1:" + std::to_string((*server)->port());

  auto got = AdminGet(address, "/stats?app=sh%6Fp&window=60", "tok", 5000);
  REQUIRE(got.ok());
  CHECK(got->status == 200);
  CHECK(got->content_type == "application/json");
  CHECK(got->body == "{\"app\":\"shop\"}");

  auto large = AdminGet(address, "/large", "tok", 5000);
  REQUIRE(large.ok());
  CHECK(large->body == std::string(1 << 20, 'y'));

  // HTTP errors are responses; the caller judges them.
  auto denied = AdminGet(address, "/stats", "wrong", 5000);
  REQUIRE(denied.ok());
  CHECK(denied->status == 401);
  CHECK(denied->body == "missing or wrong bearer token\n");
  auto missing = AdminGet(address, "/nope", "tok", 5000);
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
  auto open = AdminGet(address, "/healthz", "", 5000);
  REQUIRE(open.ok());
  CHECK(open->status == 404);  // open (no token needed) but not routed

  auto big = AdminGet(address, "/big", "tok", 10000);
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().code() == Code::kResourceExhausted);

  CHECK(AdminGet(address, "stats", "tok", 1000).status().code() == Code::kInvalidArgument);
  CHECK(AdminGet(address, "/a b", "tok", 1000).status().code() == Code::kInvalidArgument);
  CHECK(AdminGet(address, "/stats", "t\r\nX: y", 1000).status().code() == Code::kInvalidArgument);
  CHECK(AdminGet("127.0.0.1", "/stats", "tok", 1000).status().code() == Code::kInvalidArgument);
}

TEST_CASE("AdminGet: UNAVAILABLE when nobody listens or answers", "[core][http_admin]") {
  // A port that was just free: connection refused.
  int free_port = 0;
  {
    auto s = AdminServer::Start("127.0.0.1:0", {});
    REQUIRE(s.ok());
    free_port = (*s)->port();
  }
  auto refused = AdminGet("127.0.0.1:" + std::to_string(free_port), "/stats", "", 2000);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kUnavailable);
  CHECK_THAT(refused.status().message(), Catch::StartsWith("cannot connect to 127.0.0.1:" + std::to_string(free_port)));

  // A listener that accepts (in the kernel) but never answers: the deadline.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string silent = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const auto start = std::chrono::steady_clock::now();
  auto timed_out = AdminGet(silent, "/stats", "", 300);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ::close(fd);
  REQUIRE_FALSE(timed_out.ok());
  CHECK(timed_out.status().code() == Code::kUnavailable);
  CHECK(timed_out.status().message() == silent + ": no answer within 300 ms");
  CHECK(elapsed >= std::chrono::milliseconds(250));
  CHECK(elapsed < std::chrono::seconds(2));
}

// A connected client socket to 127.0.0.1:port (closed by the caller).
int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

std::map<std::string, AdminServer::Handler> HealthRoutes() {
  std::map<std::string, AdminServer::Handler> routes;
  routes["/healthz"] = [](const AdminRequest&) { return AdminResponse{200, "text/plain", "ok\n"}; };
  routes["/metrics"] = [](const AdminRequest&) { return AdminResponse{200, "text/plain", "app_metric 1\n"}; };
  return routes;
}

TEST_CASE("AdminServer: idle and slow clients do not delay others", "[core][http_admin]") {
  auto server = AdminServer::Start("127.0.0.1:0", HealthRoutes());
  REQUIRE(server.ok());
  const int port = (*server)->port();
  std::vector<int> held;
  for (int i = 0; i < 20; ++i) {
    held.push_back(Connect(port));
    if (i % 2) ::send(held.back(), "GET /hea", 8, MSG_NOSIGNAL);  // a head that trickles and never ends
  }
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::string got = Exchange(port, "GET /healthz HTTP/1.0\r\n\r\n");
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK_THAT(got, Catch::EndsWith("\r\n\r\nok\n"));
    CHECK(took < std::chrono::milliseconds(300));  // the serial server took 2 s per idle client ahead
    for (size_t i = 1; i < held.size(); i += 2) ::send(held[i], "l", 1, MSG_NOSIGNAL);
  }
  CHECK_THAT((*server)->MetricsText(), Catch::Contains("skyport_admin_connections_open 20\n"));
  for (int fd : held) ::close(fd);
}

TEST_CASE("AdminServer: at the connection cap the oldest idle client is shed", "[core][http_admin]") {
  AdminOptions opts;
  opts.max_connections = 4;
  auto server = AdminServer::Start("127.0.0.1:0", HealthRoutes(), opts);
  REQUIRE(server.ok());
  const int port = (*server)->port();
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(Connect(port));
  // Let the server accept them all before the next one comes.
  for (int i = 0; i < 100 && (*server)->MetricsText().find("skyport_admin_connections_open 4\n") == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK_THAT(Exchange(port, "GET /healthz HTTP/1.0\r\n\r\n"), Catch::EndsWith("\r\n\r\nok\n"));
  char c;
  CHECK(::recv(idle[0], &c, 1, 0) == 0);  // the oldest was closed
  const std::string metrics = Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  CHECK_THAT(metrics, Catch::Contains("app_metric 1\n"));
  CHECK_THAT(metrics, Catch::Contains("skyport_admin_connections_shed_total 1\n"));
  for (int fd : idle) ::close(fd);
}

TEST_CASE("AdminServer: a head not complete in time gets 408 and counts", "[core][http_admin]") {
  AdminOptions opts;
  opts.read_timeout_ms = 200;
  auto server = AdminServer::Start("127.0.0.1:0", HealthRoutes(), opts);
  REQUIRE(server.ok());
  int fd = Connect((*server)->port());
  const auto start = std::chrono::steady_clock::now();
  std::string got;
  char buf[512];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  CHECK_THAT(got, Catch::StartsWith("HTTP/1.0 408 Request Timeout\r\n"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK_THAT((*server)->MetricsText(), Catch::Contains("skyport_admin_timeouts_total 1\n"));
}

TEST_CASE("AdminServer: /metrics behind its own token", "[core][http_admin]") {
  AdminOptions opts;
  opts.token = "admin-tok";
  opts.metrics_token = "m3trics";
  auto server = AdminServer::Start("127.0.0.1:0", HealthRoutes(), opts);
  REQUIRE(server.ok());
  const int port = (*server)->port();
  auto get = [&](const std::string& auth) {
    return Exchange(port, "GET /metrics HTTP/1.0\r\n" + (auth.empty() ? "" : "Authorization: " + auth + "\r\n") +
                              "\r\n");
  };
  CHECK_THAT(get(""), Catch::StartsWith("HTTP/1.0 401 Unauthorized\r\n"));
  CHECK_THAT(get("Bearer m3tric"), Catch::StartsWith("HTTP/1.0 401 Unauthorized\r\n"));
  CHECK_THAT(get("Basic m3trics"), Catch::StartsWith("HTTP/1.0 401 Unauthorized\r\n"));
  CHECK_THAT(get("Bearer m3trics"), Catch::StartsWith("HTTP/1.0 200 OK\r\n"));
  CHECK_THAT(get("Bearer admin-tok"), Catch::StartsWith("HTTP/1.0 200 OK\r\n"));  // the admin token opens all
  CHECK_THAT(Exchange(port, "GET /healthz HTTP/1.0\r\n\r\n"), Catch::StartsWith("HTTP/1.0 200 OK\r\n"));

  // Without an admin token the metrics token still guards /metrics (registry, hub).
  AdminOptions only_metrics;
  only_metrics.metrics_token = "m3trics";
  auto open = AdminServer::Start("127.0.0.1:0", HealthRoutes(), only_metrics);
  REQUIRE(open.ok());
  CHECK_THAT(Exchange((*open)->port(), "GET /metrics HTTP/1.0\r\n\r\n"), Catch::StartsWith("HTTP/1.0 401 "));
  CHECK_THAT(Exchange((*open)->port(), "GET /healthz HTTP/1.0\r\n\r\n"), Catch::StartsWith("HTTP/1.0 200 "));
}

TEST_CASE("AdminOptionsFromFlags: token from file or env, bounds checked", "[core][http_admin]") {
  AdminFlags f;
  auto none = AdminOptionsFromFlags(f, "adm", "");
  REQUIRE(none.ok());
  CHECK(none->token == "adm");
  CHECK(none->metrics_token.empty());
  CHECK(none->max_connections == 64);
  CHECK(none->read_timeout_ms == 2000);

  auto env = AdminOptionsFromFlags(f, "", "  from-env \n");
  REQUIRE(env.ok());
  CHECK(env->metrics_token == "from-env");

  char path[] = "/tmp/skyport-metrics-token-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "from-file\n", 10) == 10);
  ::close(fd);
  f.metrics_token_file = path;
  auto file = AdminOptionsFromFlags(f, "", "from-env");
  REQUIRE(file.ok());
  CHECK(file->metrics_token == "from-file");  // the file wins
  ::unlink(path);
  auto missing = AdminOptionsFromFlags(f, "", "");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::StartsWith("metrics-token-file: cannot read"));

  AdminFlags bad;
  bad.max_connections = 0;
  CHECK_FALSE(AdminOptionsFromFlags(bad, "", "").ok());
  bad.max_connections = 1;
  bad.read_timeout_ms = 10;
  CHECK_FALSE(AdminOptionsFromFlags(bad, "", "").ok());
}

}  // namespace
}  // namespace skyport
