#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/ids.h"
#include "router/head_write.h"

namespace skyport::router {
namespace {

struct Parsed {
  std::string raw;
  http1::RequestHead req;
  http1::ResponseHead resp;
};

std::unique_ptr<Parsed> ParsedRequest(std::string raw) {
  auto p = std::make_unique<Parsed>();
  p->raw = std::move(raw);
  http1::ParseError err;
  REQUIRE(http1::ParseRequest(p->raw, 64 * 1024, p->req, err) == http1::Parse::kDone);
  return p;
}

std::unique_ptr<Parsed> ParsedResponse(std::string raw, bool request_was_head = false) {
  auto p = std::make_unique<Parsed>();
  p->raw = std::move(raw);
  http1::ParseError err;
  REQUIRE(http1::ParseResponse(p->raw, 64 * 1024, request_was_head, p->resp, err) == http1::Parse::kDone);
  return p;
}

TEST_CASE("AppendForwardedHead: the client's end-to-end fields, then the router's", "[router]") {
  struct Row {
    const char* what;
    std::string raw;
    ForwardedFields x;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"plain GET",
       "GET /a?b=1 HTTP/1.1\r\nHost: web.example\r\nAccept: */*\r\nX-Request-Id: abc\r\n\r\n",
       {"10.0.0.9", "http", "0123456789abcdef0123456789abcdef", "", false, false},
       "GET /a?b=1 HTTP/1.1\r\nHost: web.example\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.9\r\n"
       "X-Forwarded-Proto: http\r\nX-Forwarded-Host: web.example\r\nX-Request-Id: abc\r\n"
       "X-Skyport-User: 0123456789abcdef0123456789abcdef\r\n\r\n"},
      {"hop-by-hop and forged fields dropped, framing ours, flight named",
       "POST /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nX-Skyport-User: forged\r\nContent-Length: 3\r\n"
       "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nX-Request-Id: ok\r\n\r\nabc",
       {"10.0.0.9", "https", "u", "exp", false, true},
       "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\n"
       "X-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\nX-Request-Id: ok\r\nX-Skyport-User: u\r\n"
       "X-Skyport-Flight: exp\r\n\r\n"},
      {"absolute-form target: origin-form; HTTP/1.0 asks for keep-alive",
       "GET http://h/x?q HTTP/1.0\r\nHost: h\r\nX-Request-Id: ok\r\n\r\n",
       {"p", "http", "u", "", false, false},
       "GET /x?q HTTP/1.0\r\nHost: h\r\nX-Forwarded-For: p\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
       "X-Request-Id: ok\r\nX-Skyport-User: u\r\nConnection: keep-alive\r\n\r\n"},
      {"upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: ok\r\n\r\n",
       {"p", "http", "u", "", false, false},
       "GET /ws HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: p\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
       "X-Request-Id: ok\r\nX-Skyport-User: u\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    auto p = ParsedRequest(row.raw);
    FakeRandom rng;
    std::string out;
    AppendForwardedHead(out, p->raw.data(), p->req, row.x, rng);
    CHECK(out == row.want);
  }
}

TEST_CASE("AppendForwardedHead: a request id of ours when the client's is unusable", "[router]") {
  auto p = ParsedRequest("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: has space\r\n\r\n");
  FakeRandom a(1), b(1);
  std::string one, two;
  AppendForwardedHead(one, p->raw.data(), p->req, {"p", "http", "u", "", false, false}, a);
  AppendForwardedHead(two, p->raw.data(), p->req, {"p", "http", "u", "", false, false}, b);
  CHECK(one == two);  // randomness is an input
  const size_t at = one.find("X-Request-Id: ");
  REQUIRE(at != std::string::npos);
  CHECK(one.substr(at + 14, 32).find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(one.substr(at + 46, 2) == "\r\n");
  CHECK_FALSE(UsableRequestId("has space"));
  CHECK_FALSE(UsableRequestId(""));
  CHECK_FALSE(UsableRequestId(std::string(129, 'a')));
  CHECK(UsableRequestId(std::string(128, 'a')));
}

TEST_CASE("AppendRelayedHead: framing ours, the router's fields, Connection", "[router]") {
  struct Row {
    const char* what;
    std::string raw;
    bool request_was_head;
    RelayedFields x;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"length, new user's cookie", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: s\r\n\r\n", false,
       {false, 1, "aaaa", "127.0.0.1:9001", "skyport=v1.x", false},
       "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\nX-Skyport-Commit: aaaa\r\n"
       "X-Skyport-Instance: 127.0.0.1:9001\r\nSet-Cookie: skyport=v1.x\r\n\r\n"},
      {"chunked to an HTTP/1.0 client: no coding, keep-alive said",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, {false, 0, "a", "i", "", false},
       "HTTP/1.1 200 OK\r\nX-Skyport-Commit: a\r\nX-Skyport-Instance: i\r\nConnection: keep-alive\r\n\r\n"},
      {"HEAD keeps its GET's length; close", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", true,
       {true, 1, "a", "i", "", true},
       "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX-Skyport-Commit: a\r\nX-Skyport-Instance: i\r\n"
       "Connection: close\r\n\r\n"},
      {"101: upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
       false, {false, 1, "a", "i", "", true},
       "HTTP/1.1 101 Switching Protocols\r\nX-Skyport-Commit: a\r\nX-Skyport-Instance: i\r\n"
       "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    auto p = ParsedResponse(row.raw, row.request_was_head);
    std::string out;
    AppendRelayedHead(out, p->raw.data(), p->resp, row.x);
    CHECK(out == row.want);
  }
}

}  // namespace
}  // namespace skyport::router
