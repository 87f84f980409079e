#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

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
  routes["/healthz"] = [&] {
    ++calls;
    return AdminResponse{200, "text/plain; charset=utf-8", "ok\n"};
  };
  routes["/metrics"] = [] { return AdminResponse{200, "text/plain; version=0.0.4", "m 1\n"}; };
  routes["/busy"] = [] { return AdminResponse{503, "text/plain", "busy\n"}; };
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
      {"GET /metrics HTTP/1.0\r\n\r\n",
       "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 4\r\n"
       "Connection: close\r\n\r\nm 1\n"},
      {"GET /nope HTTP/1.0\r\n\r\n",
       "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
       "Connection: close\r\n\r\nnot found\n"},
      {"GET /healthzz HTTP/1.0\r\n\r\n",
       "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
       "Connection: close\r\n\r\nnot found\n"},
      {"POST /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
       "HTTP/1.0 405 Error\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
       "Connection: close\r\n\r\nonly GET is served here\n"},
      {"GETX /healthz HTTP/1.0\r\n\r\n",
       "HTTP/1.0 405 Error\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
       "Connection: close\r\n\r\nonly GET is served here\n"},
      {"garbage\r\n\r\n",
       "HTTP/1.0 400 Error\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
       "Connection: close\r\n\r\nmalformed request\n"},
      {"GET /busy HTTP/1.0\r\n\r\n",
       "HTTP/1.0 503 Error\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
       "Connection: close\r\n\r\nbusy\n"},
  };
  for (const Row& r : rows) {
    INFO(r.request);
    CHECK(Exchange(port, r.request) == r.response);
  }
  CHECK(calls.load() == 2);  // POST never reaches the handler
}

TEST_CASE("AdminServer: oversized request headers get 431", "[core][http_admin]") {
  auto server = AdminServer::Start("127.0.0.1:0", {});
  REQUIRE(server.ok());
  // Exactly the limit, so that the server has read everything before it
  // answers and closes (unread data would turn the close into a reset).
  std::string req = "GET /" + std::string(8192 - 5, 'a');
  std::string got = Exchange((*server)->port(), req);
  CHECK_THAT(got, Catch::StartsWith("HTTP/1.0 431 Error\r\n"));
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

}  // namespace
}  // namespace skyport
