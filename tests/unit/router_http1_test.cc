#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "router/http1.h"
#include "router/rate_limit.h"

using namespace skyport::router::http1;

namespace {

constexpr size_t kMax = 8192;

// The heads are ~5 KiB each; keep them off the stack in loops.
struct Req {
  std::unique_ptr<RequestHead> head = std::make_unique<RequestHead>();
  ParseError err;
  Parse Run(std::string_view buf, size_t max = kMax) { return ParseRequest(buf, max, *head, err); }
};

struct Resp {
  std::unique_ptr<ResponseHead> head = std::make_unique<ResponseHead>();
  ParseError err;
  Parse Run(std::string_view buf, bool was_head = false, size_t max = kMax) {
    return ParseResponse(buf, max, was_head, *head, err);
  }
};

const HeaderField* Field(const RequestHead& h, std::string_view name) {
  for (int i = 0; i < h.header_count; ++i) {
    if (EqualsIgnoreCase(h.headers[i].name, name)) return &h.headers[i];
  }
  return nullptr;
}
const HeaderField* Field(const ResponseHead& h, std::string_view name) {
  for (int i = 0; i < h.header_count; ++i) {
    if (EqualsIgnoreCase(h.headers[i].name, name)) return &h.headers[i];
  }
  return nullptr;
}

const char* Name(Parse p) {
  switch (p) {
    case Parse::kIncomplete: return "incomplete";
    case Parse::kDone: return "done";
    case Parse::kError: return "error";
  }
  return "?";
}

std::string Escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

const std::string kTypical =
    "GET /index.html?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n"
    "Cookie: skyport=u123.sig\r\n\r\n";

}  // namespace

// ---- requests -------------------------------------------------------------------

TEST_CASE("ParseRequest: a typical request", "[router][http1]") {
  Req r;
  REQUIRE(r.Run(kTypical) == Parse::kDone);
  const RequestHead& h = *r.head;
  CHECK(h.method == "GET");
  CHECK(h.target == "/index.html?x=1");
  CHECK(h.path == "/index.html");
  CHECK(h.minor_version == 1);
  CHECK(h.head_len == kTypical.size());
  CHECK(h.body == BodyKind::kNone);
  CHECK(h.keep_alive);
  CHECK_FALSE(h.expect_continue);
  CHECK_FALSE(h.upgrade);
  CHECK_FALSE(h.is_head);
  CHECK(h.host == "127.0.0.1:8080");
  CHECK(h.x_forwarded_for.empty());
  CHECK(h.x_request_id.empty());
  CHECK(h.x_skyport_commit.empty());
  REQUIRE(h.header_count == 3);
  CHECK(h.headers[0].name == "Host");
  CHECK(h.headers[1].name == "User-Agent");
  CHECK(h.headers[1].value == "wrk");
  CHECK(h.headers[2].value == "skyport=u123.sig");
  for (int i = 0; i < h.header_count; ++i) {
    const HeaderField& f = h.headers[i];
    CHECK_FALSE(f.hop);
    // line_begin..line_end is exactly "Name: value\r\n".
    std::string_view line(kTypical.data() + f.line_begin, f.line_end - f.line_begin);
    CHECK(line.substr(0, f.name.size()) == f.name);
    CHECK(line.substr(line.size() - 2) == "\r\n");
    CHECK(line.find(f.value) != std::string_view::npos);
  }
  CHECK(FindCookie(h, "skyport") == "u123.sig");
}

TEST_CASE("ParseRequest: accepted requests and their framing", "[router][http1]") {
  struct Case {
    const char* text;
    BodyKind body;
    uint64_t length;
    bool keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyKind::kNone, 0, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", BodyKind::kLength, 5, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", BodyKind::kLength, 0, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\ncontent-length:   42  \r\n\r\n", BodyKind::kLength, 42, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", BodyKind::kLength, 7, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", BodyKind::kLength,
       9999999999999999999ull, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", BodyKind::kChunked, 0, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked\r\n\r\n", BodyKind::kChunked, 0, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tCHUNKED\t\r\n\r\n", BodyKind::kChunked, 0, true},
      {"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n", BodyKind::kChunked, 0, true},
      {"GET / HTTP/1.0\r\n\r\n", BodyKind::kNone, 0, false},
      {"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", BodyKind::kLength, 3, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", BodyKind::kNone, 0, true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", BodyKind::kNone, 0, false},
      {"GET / HTTP/1.1\r\nHost:\r\n\r\n", BodyKind::kNone, 0, true},  // empty Host is allowed
  };
  for (const auto& c : cases) {
    INFO(Escaped(c.text));
    Req r;
    REQUIRE(r.Run(c.text) == Parse::kDone);
    CHECK(r.head->body == c.body);
    CHECK(r.head->content_length == c.length);
    CHECK(r.head->keep_alive == c.keep_alive);
    CHECK(r.head->head_len == std::string_view(c.text).size());
  }
}

TEST_CASE("ParseRequest: malformed and smuggling-prone requests are rejected", "[router][http1]") {
  struct Case {
    const char* text;
    int status;
  } cases[] = {
      // Content-Length and Transfer-Encoding, in either order.
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      // Duplicate Content-Length, equal or not.
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
      // Non-decimal lengths.
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400},  // overflow
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000005\r\n\r\n", 400},  // 20 digits
      // Transfer-Encoding other than exactly chunked.
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x, gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun ked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      // Line structure.
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", 400},            // obs-fold
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tfolded\r\n\r\n", 400},            // obs-fold
      {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},                                 // leading space
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},                                 // space before colon
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},                                    // bare LF
      {"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},                       // bare CR
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nBad(Name): 1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n", 400},
      {"\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                            // bare LF before request
      {"\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      // Host.
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
      {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      // Request line.
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
      {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},  // a 1.x we do not speak: 505 as well
      {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
      // Connection must be a token list.
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep alive\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    std::string text(c.text);
    INFO(Escaped(text));
    Req r;
    CHECK(r.Run(text) == Parse::kError);
    CHECK(r.err.status == c.status);
    CHECK(std::string_view(r.err.message).size() > 0);
  }
}

TEST_CASE("ParseRequest: error messages name the rule", "[router][http1]") {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded: x\r\n\r\n", "obs-fold"},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "whitespace before colon"},
      {"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", "bare LF"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "bare CR"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", "control character"},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "duplicate Content-Length"},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
       "Content-Length with Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "final"},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n", "unsupported"},
      {"GET / HTTP/1.1\r\n\r\n", "missing Host"},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "duplicate Host"},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "version"},
  };
  for (const auto& c : cases) {
    INFO(Escaped(c.text));
    Req r;
    REQUIRE(r.Run(c.text) == Parse::kError);
    CHECK_THAT(r.err.message, Catch::Matchers::Contains(c.message));
  }
}

TEST_CASE("ParseRequest: NUL in a value or name is rejected", "[router][http1]") {
  using namespace std::string_literals;
  for (std::string text : {"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s,
                           "GET / HTTP/1.1\r\nHost: a\r\nX\0: ab\r\n\r\n"s,
                           "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n"s,
                           "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"s}) {
    INFO(Escaped(text));
    Req r;
    CHECK(r.Run(text) == Parse::kError);
    CHECK(r.err.status == 400);
  }
}

TEST_CASE("ParseRequest: field values are trimmed, obs-text and HTAB allowed", "[router][http1]") {
  Req r;
  std::string text = "GET / HTTP/1.1\r\nHost: \t a \t\r\nX-Empty:\r\nX-Spaces:    \r\nX-Inner: a \t b\r\n"
                     "X-Utf8: caf\xc3\xa9\r\n\r\n";
  REQUIRE(r.Run(text) == Parse::kDone);
  CHECK(r.head->host == "a");
  CHECK(Field(*r.head, "x-empty")->value.empty());
  CHECK(Field(*r.head, "x-spaces")->value.empty());
  CHECK(Field(*r.head, "x-inner")->value == "a \t b");
  CHECK(Field(*r.head, "x-utf8")->value == "caf\xc3\xa9");
}

TEST_CASE("ParseRequest: every byte position of a value and a target is checked", "[router][http1]") {
  // Values long enough to cross several 8-byte words, a bad byte at each spot.
  const std::string base(23, 'v');
  for (size_t at = 0; at < base.size(); ++at) {
    for (char bad : {'\x00', '\x01', '\x08', '\x0a', '\x0b', '\x0d', '\x1f', '\x7f'}) {
      std::string value = base;
      value[at] = bad;
      std::string text = "GET / HTTP/1.1\r\nHost: a\r\nX-V: " + value + "\r\n\r\n";
      INFO(Escaped(text));
      Req r;
      CHECK(r.Run(text) == Parse::kError);
      CHECK(r.err.status == 400);
    }
    for (char good : {'\t', ' ', '~', '\x80', '\xa0', '\xff'}) {
      std::string value = base;
      value[at] = good;
      std::string text = "GET / HTTP/1.1\r\nHost: a\r\nX-V: " + value + "\r\nX-W: w\r\n\r\n";
      INFO(Escaped(text));
      Req r;
      REQUIRE(r.Run(text) == Parse::kDone);
      std::string_view trimmed = value;
      while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) trimmed.remove_prefix(1);
      while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) trimmed.remove_suffix(1);
      CHECK(Field(*r.head, "X-V")->value == trimmed);
      CHECK(Field(*r.head, "X-W")->value == "w");
    }
  }
  // The request-target: no controls, SP or DEL; raw UTF-8 passes.
  const std::string path = "/" + std::string(22, 'p');
  for (size_t at = 1; at < path.size(); ++at) {
    for (char bad : {'\x00', '\x01', '\t', '\x0d', '\x1f', '\x7f'}) {
      std::string target = path;
      target[at] = bad;
      std::string text = "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n";
      INFO(Escaped(text));
      Req r;
      CHECK(r.Run(text) == Parse::kError);
      CHECK(r.err.status == 400);
    }
    for (char good : {'~', '\x80', '\xff'}) {
      std::string target = path;
      target[at] = good;
      std::string text = "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n";
      Req r;
      REQUIRE(r.Run(text) == Parse::kDone);
      CHECK(r.head->target == target);
    }
  }
}

TEST_CASE("ParseRequest: known field names match in any case, and only exactly", "[router][http1]") {
  struct Case {
    const char* fields;
    BodyKind body;
  } cases[] = {
      {"cOnTeNt-LeNgTh: 5\r\n", BodyKind::kLength},
      {"CONTENT-LENGTH: 5\r\n", BodyKind::kLength},
      {"TRANSFER-encoding: chunked\r\n", BodyKind::kChunked},
      {"transfer-ENCODING: Chunked\r\n", BodyKind::kChunked},
      {"Content_Length: 5\r\n", BodyKind::kNone},
      {"Content-Lengths: 5\r\n", BodyKind::kNone},
      {"Xontent-Length: 5\r\n", BodyKind::kNone},
      {"Content-Lengt: 5\r\n", BodyKind::kNone},
      {"Transfer-Encodin: chunked\r\n", BodyKind::kNone},
      {"Transfer_Encoding: chunked\r\n", BodyKind::kNone},
  };
  for (const auto& c : cases) {
    std::string text = std::string("POST / HTTP/1.1\r\nHost: a\r\n") + c.fields + "\r\n";
    INFO(Escaped(text));
    Req r;
    REQUIRE(r.Run(text) == Parse::kDone);
    CHECK(r.head->body == c.body);
  }
  Req r;
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHOST: h\r\nX-FORWARDED-FOR: f\r\nx-request-ID: i\r\nX-SKYPORT-COMMIT: c\r\n"
                "CONNECTION: UPGRADE\r\nUPGRADE: ws\r\nEXPECT: 100-CONTINUE\r\nKEEP-ALIVE: 1\r\nte: x\r\n"
                "PROXY-connection: y\r\nX-Forwarded-HOST: z\r\nx-forwarded-proto: p\r\n\r\n") == Parse::kDone);
  const RequestHead& h = *r.head;
  CHECK(h.host == "h");
  CHECK(h.x_forwarded_for == "f");
  CHECK(h.x_request_id == "i");
  CHECK(h.x_skyport_commit == "c");
  CHECK(h.upgrade);
  CHECK(h.upgrade_proto == "ws");
  CHECK(h.expect_continue);
  for (int i = 0; i < h.header_count; ++i) {
    INFO(h.headers[i].name);
    CHECK(h.headers[i].hop == (i != 0 && i != 3 && i != 6));  // Host, X-Skyport-Commit, Expect
  }
}

TEST_CASE("ParseRequest: request-target forms and the path", "[router][http1]") {
  struct Case {
    const char* method;
    const char* target;
    const char* path;
  } cases[] = {
      {"GET", "/", "/"},
      {"GET", "/a/b", "/a/b"},
      {"GET", "/a?b=c", "/a"},
      {"GET", "/?", "/"},
      {"GET", "/a?b?c", "/a"},
      {"GET", "/%20x", "/%20x"},
      {"OPTIONS", "*", "*"},
      {"GET", "http://h/p?q", "/p"},
      {"GET", "http://h:80/a/b", "/a/b"},  // the port agrees with Host's default
      {"GET", "https://h", "/"},
      {"GET", "http://h?q=1", "/"},
      {"GET", "HTTP://h/x", "/x"},
      {"CONNECT", "example.com:443", ""},
  };
  for (const auto& c : cases) {
    std::string text = std::string(c.method) + " " + c.target + " HTTP/1.1\r\nHost: h\r\n\r\n";
    INFO(text);
    Req r;
    REQUIRE(r.Run(text) == Parse::kDone);
    CHECK(r.head->method == c.method);
    CHECK(r.head->target == c.target);
    CHECK(r.head->path == c.path);
  }
  // (Schemes other than http/https, ports other than Host's: see "absolute-form target and Host".)
  for (const char* bad : {"example.com:443", "1http://h/", "ht^tp://h/", "://h/", "a", "web+x.y-z://h/x",
                          "http://h:8080/a/b"}) {
    std::string text = std::string("GET ") + bad + " HTTP/1.1\r\nHost: h\r\n\r\n";
    INFO(text);
    Req r;
    CHECK(r.Run(text) == Parse::kError);
    CHECK(r.err.status == 400);
  }
}

TEST_CASE("ParseRequest: HEAD, methods are case-sensitive tokens", "[router][http1]") {
  Req r;
  REQUIRE(r.Run("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n") == Parse::kDone);
  CHECK(r.head->is_head);
  REQUIRE(r.Run("head / HTTP/1.1\r\nHost: a\r\n\r\n") == Parse::kDone);
  CHECK_FALSE(r.head->is_head);
  CHECK(r.head->method == "head");
  REQUIRE(r.Run("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n") == Parse::kDone);
  CHECK(r.head->method == "M-SEARCH");
}

TEST_CASE("ParseRequest: keep-alive by version and Connection", "[router][http1]") {
  struct Case {
    const char* version;
    const char* connection;  // nullptr: no field
    bool keep_alive;
  } cases[] = {
      {"1.1", nullptr, true},
      {"1.1", "close", false},
      {"1.1", "Close", false},
      {"1.1", "keep-alive", true},
      {"1.1", "keep-alive, close", false},
      {"1.1", " , CLOSE ,", false},
      {"1.1", "closed", true},
      {"1.1", "x-close", true},
      {"1.0", nullptr, false},
      {"1.0", "keep-alive", true},
      {"1.0", "Keep-Alive", true},
      {"1.0", "foo,\tkeep-alive", true},
      {"1.0", "keep-alive, close", false},
      {"1.0", "close", false},
  };
  for (const auto& c : cases) {
    std::string text = std::string("GET / HTTP/") + c.version + "\r\nHost: a\r\n";
    if (c.connection != nullptr) text += std::string("Connection: ") + c.connection + "\r\n";
    text += "\r\n";
    INFO(Escaped(text));
    Req r;
    REQUIRE(r.Run(text) == Parse::kDone);
    CHECK(r.head->keep_alive == c.keep_alive);
  }
  // Two Connection fields combine.
  Req r;
  REQUIRE(r.Run("GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive\r\n\r\n") == Parse::kDone);
  CHECK(r.head->keep_alive);
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n") == Parse::kDone);
  CHECK_FALSE(r.head->keep_alive);
}

TEST_CASE("ParseRequest: hop-by-hop fields", "[router][http1]") {
  std::string text =
      "GET / HTTP/1.1\r\n"
      "Host: a\r\n"
      "Connection: keep-alive, X-Secret , upgrade\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Upgrade: websocket\r\n"
      "X-Forwarded-For: 1.2.3.4\r\n"
      "X-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: example.com\r\n"
      "X-Request-Id: abc\r\n"
      "x-secret: 1\r\n"
      "X-Other: 2\r\n"
      "Accept: */*\r\n"
      "X-Skyport-Commit: 74336bc1\r\n"
      "x-skyport-user: forged\r\n"
      "X-Skyport-Flight: forged\r\n"
      "\r\n";
  Req r;
  REQUIRE(r.Run(text) == Parse::kDone);
  const RequestHead& h = *r.head;
  struct Want {
    const char* name;
    bool hop;
  } wants[] = {
      {"Host", false},          {"Connection", true},        {"Keep-Alive", true},
      {"Proxy-Connection", true}, {"TE", true},              {"Upgrade", true},
      {"X-Forwarded-For", true}, {"X-Forwarded-Proto", true}, {"X-Forwarded-Host", true},
      {"X-Request-Id", true},   {"x-secret", true},          {"X-Other", false},
      {"Accept", false},        {"X-Skyport-Commit", false},
      {"x-skyport-user", true},  {"X-Skyport-Flight", true},  // only the router sets these
  };
  REQUIRE(h.header_count == static_cast<int>(std::size(wants)));
  for (const auto& w : wants) {
    INFO(w.name);
    const HeaderField* f = Field(h, w.name);
    REQUIRE(f != nullptr);
    CHECK(f->hop == w.hop);
  }
  CHECK(h.upgrade);
  CHECK(h.upgrade_proto == "websocket");
  CHECK(h.x_forwarded_for == "1.2.3.4");
  CHECK(h.x_request_id == "abc");
  CHECK(h.x_skyport_commit == "74336bc1");
  CHECK(h.keep_alive);
}

TEST_CASE("ParseRequest: Connection cannot strip framing or Host", "[router][http1]") {
  // Content-Length and Transfer-Encoding are always hop (the router writes its
  // own from `body`); what matters is that Connection cannot change the framing.
  Req r;
  REQUIRE(r.Run("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, host, x-a\r\nContent-Length: 3\r\n"
                "X-A: 1\r\n\r\n") == Parse::kDone);
  CHECK(Field(*r.head, "Content-Length")->hop);
  CHECK_FALSE(Field(*r.head, "Host")->hop);
  CHECK(Field(*r.head, "X-A")->hop);
  CHECK(r.head->body == BodyKind::kLength);
  CHECK(r.head->content_length == 3);
  REQUIRE(r.Run("POST / HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n"
                "\r\n") == Parse::kDone);
  CHECK(Field(*r.head, "Transfer-Encoding")->hop);
  CHECK(r.head->body == BodyKind::kChunked);
}

TEST_CASE("ParseRequest: framing fields are never forwarded as sent", "[router][http1]") {
  // Whatever the spelling, the proxy drops the field and writes its own.
  const char* cases[] = {
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked,\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  7 \r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 7\r\n\r\n",
  };
  for (const char* text : cases) {
    INFO(Escaped(text));
    Req r;
    REQUIRE(r.Run(text) == Parse::kDone);
    for (int i = 0; i < r.head->header_count; ++i) {
      const HeaderField& f = r.head->headers[i];
      if (EqualsIgnoreCase(f.name, "content-length") || EqualsIgnoreCase(f.name, "transfer-encoding")) CHECK(f.hop);
    }
    CHECK(r.head->body != BodyKind::kNone);
  }
}

TEST_CASE("ParseRequest: field names with underscores", "[router][http1]") {
  Req r;
  REQUIRE(r.Run("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n"
                "X_Skyport_User: u\r\nx_forwarded_for: 1.2.3.4\r\nHOST_: b\r\nX_Custom: 1\r\nX-Plain: 2\r\n"
                "\r\n") == Parse::kDone);
  const RequestHead& h = *r.head;
  CHECK(h.underscore_fields == 5);
  CHECK(h.body == BodyKind::kLength);  // Transfer_Encoding is not Transfer-Encoding here
  CHECK(h.content_length == 5);
  CHECK(h.x_forwarded_for.empty());
  struct Want {
    const char* name;
    bool underscore;
    bool hop;  // hop whatever the proxy's underscore setting: folds into a field the router owns
  } wants[] = {
      {"Transfer_Encoding", true, true}, {"X_Skyport_User", true, true}, {"x_forwarded_for", true, true},
      {"HOST_", true, false},  // "HOST-" is no field the router knows
      {"X_Custom", true, false}, {"X-Plain", false, false}, {"Host", false, false},
  };
  for (const auto& w : wants) {
    INFO(w.name);
    const HeaderField* f = Field(h, w.name);
    REQUIRE(f != nullptr);
    CHECK(f->underscore == w.underscore);
    CHECK(f->hop == w.hop);
  }
  // A name longer than any known one, and reuse of the head, clear the flags.
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\nX-Plain: 2\r\n\r\n") == Parse::kDone);
  CHECK(r.head->underscore_fields == 0);
  CHECK_FALSE(r.head->headers[1].underscore);
  std::string long_name = "X_" + std::string(40, 'a');
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\n" + long_name + ": 2\r\n\r\n") == Parse::kDone);
  CHECK(r.head->headers[1].underscore);
  CHECK_FALSE(r.head->headers[1].hop);
}

TEST_CASE("ParseRequest: Host must be a valid host[:port]", "[router][http1]") {
  struct Case {
    const char* host;
    bool ok;
  } cases[] = {
      {"app.localhost", true},        {"app.localhost:80", true},  {"APP.LocalHost.", true},
      {"127.0.0.1:8080", true},       {"[::1]:8080", true},        {"[2001:db8::1]", true},
      {"a_b-c~d", true},              {"app.localhost:80@evil", false}, {"user@app.localhost", false},
      {"app.localhost/x", false},     {"app.localhost:", false},   {"app.localhost:99999", false},
      {"app.localhost:8o", false},    {"a..b", false},             {".a", false},
      {"[::1", false},                {"[zz::1]", false},          {"[1.2.3.4]", false},
      {"a%2eb", false},               {"a,b", false},              {"a:1:2", false},
      {"::1", false},                 {"a\\b", false},
  };
  for (const auto& c : cases) {
    INFO(c.host);
    Req r;
    std::string text = std::string("GET / HTTP/1.1\r\nHost: ") + c.host + "\r\n\r\n";
    if (c.ok) {
      CHECK(r.Run(text) == Parse::kDone);
    } else {
      REQUIRE(r.Run(text) == Parse::kError);
      CHECK(r.err.status == 400);
      CHECK(std::string_view(r.err.message) == "invalid Host");
    }
  }
  Req r;
  CHECK(r.Run("GET / HTTP/1.1\r\nHost:\r\n\r\n") == Parse::kDone);  // empty: RFC 9112 3.2
  CHECK(r.Run("GET / HTTP/1.0\r\n\r\n") == Parse::kDone);
}

TEST_CASE("ParseRequest: an absolute-form target and Host must agree", "[router][http1]") {
  struct Case {
    const char* target;
    const char* host;
    bool ok;
  } cases[] = {
      {"http://a.example/x", "a.example", true},
      {"http://A.Example/x", "a.example", true},
      {"http://a.example:80/x", "a.example", true},
      {"http://a.example/x", "a.example:80", true},
      {"https://a.example/x", "a.example:443", true},
      {"HTTP://a.example.?q", "a.example", true},
      {"http://[::1]:8080/", "[::1]:8080", true},
      {"http://a.example/x", "b.example", false},
      {"http://a.example:8080/x", "a.example", false},
      {"https://a.example/x", "a.example:80", false},
      {"http://user@a.example/x", "a.example", false},
      {"http://a.example@b.example/x", "b.example", false},
      {"http:///x", "a.example", false},
      {"ftp://a.example/x", "a.example", false},
      {"http://a.example/x", "", false},
  };
  for (const auto& c : cases) {
    INFO(c.target << " Host: " << c.host);
    Req r;
    std::string text = std::string("GET ") + c.target + " HTTP/1.1\r\nHost: " + c.host + "\r\n\r\n";
    if (c.ok) {
      CHECK(r.Run(text) == Parse::kDone);
    } else {
      REQUIRE(r.Run(text) == Parse::kError);
      CHECK(r.err.status == 400);
    }
  }
}

TEST_CASE("ParseRequest: upgrade needs both the token and the field", "[router][http1]") {
  struct Case {
    const char* fields;
    bool upgrade;
    const char* proto;
  } cases[] = {
      {"Connection: Upgrade\r\nUpgrade: websocket\r\n", true, "websocket"},
      {"Connection: keep-alive, UPGRADE\r\nUpgrade: h2c\r\n", true, "h2c"},
      {"Upgrade: websocket\r\n", false, "websocket"},
      {"Connection: upgrade\r\n", false, ""},
      {"Connection: close\r\nUpgrade: websocket\r\n", false, "websocket"},
  };
  for (const auto& c : cases) {
    std::string text = std::string("GET /ws HTTP/1.1\r\nHost: a\r\n") + c.fields + "\r\n";
    INFO(Escaped(text));
    Req r;
    REQUIRE(r.Run(text) == Parse::kDone);
    CHECK(r.head->upgrade == c.upgrade);
    CHECK(r.head->upgrade_proto == c.proto);
  }
}

TEST_CASE("ParseRequest: Expect: 100-continue", "[router][http1]") {
  struct Case {
    const char* text;
    bool expect;
  } cases[] = {
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n", true},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nexpect:  100-Continue \r\n\r\n", true},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 200-ok\r\n\r\n", false},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", false},
      {"POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n", false},  // ignored in 1.0
  };
  for (const auto& c : cases) {
    INFO(Escaped(c.text));
    Req r;
    REQUIRE(r.Run(c.text) == Parse::kDone);
    CHECK(r.head->expect_continue == c.expect);
  }
}

TEST_CASE("ParseRequest: repeated informational fields report the first, X-Forwarded-For the last line", "[router][http1]") {
  Req r;
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n"
                "X-Request-Id: one\r\nX-Request-Id: two\r\nX-Skyport-Commit: aaa\r\nX-Skyport-Commit: bbb\r\n"
                "\r\n") == Parse::kDone);
  // RFC 9110 5.3: one list "1.1.1.1, 2.2.2.2"; a front proxy appends its line
  // after the client's, so the last hop is in the last line.
  CHECK(r.head->x_forwarded_for == "2.2.2.2");
  CHECK(r.head->x_forwarded_for_lines == 2);
  CHECK(r.head->x_request_id == "one");
  CHECK(r.head->x_skyport_commit == "aaa");
  CHECK(Field(*r.head, "X-Forwarded-For")->hop);
  CHECK(r.head->headers[2].hop);  // the second X-Forwarded-For too
}

TEST_CASE("ParseRequest: HTTP/1.0 without Host", "[router][http1]") {
  Req r;
  REQUIRE(r.Run("GET /x HTTP/1.0\r\nUser-Agent: old\r\n\r\n") == Parse::kDone);
  CHECK(r.head->minor_version == 0);
  CHECK(r.head->host.empty());
  CHECK_FALSE(r.head->keep_alive);
}

TEST_CASE("ParseRequest: leading empty lines are skipped and counted", "[router][http1]") {
  std::string text = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  Req r;
  REQUIRE(r.Run(text) == Parse::kDone);
  CHECK(r.head->head_len == text.size());
  CHECK(r.head->method == "GET");
  CHECK(r.head->headers[0].line_begin == text.find("Host"));
  CHECK(r.Run("\r\n\r\n") == Parse::kIncomplete);
  CHECK(r.Run("\r\n\r\nGET / HT") == Parse::kIncomplete);
  CHECK(r.Run("\r") == Parse::kIncomplete);
}

TEST_CASE("ParseRequest: a pipelined buffer yields one head at a time", "[router][http1]") {
  std::string first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  std::string second = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  std::string third = "GET /c HTTP/1.1\r\nHo";
  std::string buf = first + "xyz" + second + third;
  Req r;
  REQUIRE(r.Run(buf) == Parse::kDone);
  CHECK(r.head->head_len == first.size());
  CHECK(r.head->path == "/a");
  CHECK(r.head->content_length == 3);
  std::string_view rest = std::string_view(buf).substr(first.size() + 3);
  REQUIRE(r.Run(rest) == Parse::kDone);
  CHECK(r.head->head_len == second.size());
  CHECK(r.head->path == "/b");
  CHECK(r.head->host == "b");
  rest.remove_prefix(second.size());
  CHECK(r.Run(rest) == Parse::kIncomplete);
}

TEST_CASE("ParseRequest: every proper prefix is incomplete", "[router][http1]") {
  const std::string texts[] = {
      kTypical,
      "\r\nPOST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Empty:\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
      // Leading empty lines make every prefix pass the blank-line pre-check.
      "\r\n\r\nPUT /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nX-Tab:\ta\tb\t\r\nCookie: a=b\r\n\r\n",
  };
  for (const std::string& text : texts) {
    INFO(Escaped(text));
    Req r;
    for (size_t len = 0; len < text.size(); ++len) {
      INFO("prefix " << len);
      Parse p = r.Run(std::string_view(text).substr(0, len));
      INFO(Name(p) << " " << r.err.message);
      REQUIRE(p == Parse::kIncomplete);
    }
    REQUIRE(r.Run(text) == Parse::kDone);
    CHECK(r.head->head_len == text.size());
    // Any bytes after the head do not change it.
    REQUIRE(r.Run(text + "GET") == Parse::kDone);
    CHECK(r.head->head_len == text.size());
  }
}

TEST_CASE("ParseRequest: 431 for a head over the limit", "[router][http1]") {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(200, 'b') + "\r\n\r\n";
  Req r;
  REQUIRE(r.Run(head, head.size()) == Parse::kDone);  // exactly the limit is fine
  CHECK(r.Run(head, head.size() - 1) == Parse::kError);
  CHECK(r.err.status == 431);
  // Incomplete and already at the limit.
  std::string partial = head.substr(0, 100);
  CHECK(r.Run(partial, 101) == Parse::kIncomplete);
  CHECK(r.Run(partial, 100) == Parse::kError);
  CHECK(r.err.status == 431);
  CHECK(r.Run(partial, 50) == Parse::kError);
  CHECK(r.err.status == 431);
  // A long request line on its own.
  std::string line = "GET /" + std::string(300, 'x') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK(r.Run(line, 100) == Parse::kError);
  CHECK(r.err.status == 431);
  // Leading empty lines count against the limit.
  std::string blank(200, '\r');
  for (size_t i = 1; i < blank.size(); i += 2) blank[i] = '\n';
  CHECK(r.Run(blank + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 100) == Parse::kError);
  CHECK(r.err.status == 431);
  // A complete head beyond the limit is 431 even when a body follows it.
  CHECK(r.Run(head + std::string(10000, 'z'), 100) == Parse::kError);
  CHECK(r.err.status == 431);
}

TEST_CASE("ParseRequest: at most kMaxHeaders fields", "[router][http1]") {
  auto make = [](int fields) {
    std::string t = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 1; i < fields; ++i) t += "X-F" + std::to_string(i) + ": v\r\n";
    return t + "\r\n";
  };
  Req r;
  REQUIRE(r.Run(make(kMaxHeaders), 1 << 20) == Parse::kDone);
  CHECK(r.head->header_count == kMaxHeaders);
  CHECK(r.head->headers[kMaxHeaders - 1].name == "X-F99");
  CHECK(r.Run(make(kMaxHeaders + 1), 1 << 20) == Parse::kError);
  CHECK(r.err.status == 431);
}

TEST_CASE("ParseRequest: reusing one head clears the previous request", "[router][http1]") {
  Req r;
  REQUIRE(r.Run("POST / HTTP/1.1\r\nHost: a\r\nConnection: x-a, close\r\nX-A: 1\r\nContent-Length: 4\r\n"
                "X-Forwarded-For: 1.2.3.4\r\nExpect: 100-continue\r\nX-Skyport-Commit: c\r\n\r\n") ==
          Parse::kDone);
  REQUIRE(r.Run("GET /b HTTP/1.1\r\nX-A: 1\r\nHost: b\r\nX-B: 2\r\nX-C: 3\r\n\r\n") == Parse::kDone);
  const RequestHead& h = *r.head;
  CHECK(h.body == BodyKind::kNone);
  CHECK(h.content_length == 0);
  CHECK(h.keep_alive);
  CHECK_FALSE(h.expect_continue);
  CHECK(h.x_forwarded_for.empty());
  CHECK(h.x_skyport_commit.empty());
  CHECK(h.header_count == 4);
  for (int i = 0; i < h.header_count; ++i) CHECK_FALSE(h.headers[i].hop);
}

// ---- cookies and names ---------------------------------------------------------

TEST_CASE("FindCookie: across every Cookie field", "[router][http1]") {
  Req r;
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; skyport=abc.def; b=2\r\nX: skyport=no\r\n"
                "cookie: c=3;d=4 ;  e = 5 ;flag; =x\r\nCOOKIE: skyport=later; skyports=s\r\n\r\n") ==
          Parse::kDone);
  struct Case {
    const char* name;
    const char* value;
  } cases[] = {
      {"skyport", "abc.def"}, {"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"},
      {"skyports", "s"},      {"flag", ""}, {"missing", ""}, {"Skyport", ""}, {"sky", ""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(FindCookie(*r.head, c.name) == c.value);
  }
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == Parse::kDone);
  CHECK(FindCookie(*r.head, "skyport").empty());
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\nCookie: other=1\r\nCookie: skyport=x\r\n\r\n") == Parse::kDone);
  CHECK(FindCookie(*r.head, "skyport") == "x");
}

TEST_CASE("EqualsIgnoreCase folds ASCII letters only", "[router][http1]") {
  CHECK(EqualsIgnoreCase("Content-Length", "content-length"));
  CHECK(EqualsIgnoreCase("", ""));
  CHECK(EqualsIgnoreCase("X-A1", "x-a1"));
  CHECK_FALSE(EqualsIgnoreCase("Content-Length", "content-lengt"));
  CHECK_FALSE(EqualsIgnoreCase("a", "b"));
  CHECK_FALSE(EqualsIgnoreCase("content\r-length", "content--length"));
  CHECK_FALSE(EqualsIgnoreCase("@", "`"));
  CHECK_FALSE(EqualsIgnoreCase("[", "{"));
  CHECK_FALSE(EqualsIgnoreCase("\xc3\xa9", "\xc3\x89"));
  // A field name that only matches a known one when 0x20 is OR-ed into a control byte.
  Req r;
  REQUIRE(r.Run("GET / HTTP/1.1\r\nHost: a\r\nContent\rLength: 5\r\n\r\n") == Parse::kError);
  CHECK(r.err.status == 400);
}

// ---- responses ----------------------------------------------------------------

TEST_CASE("ParseResponse: framing per RFC 9112 6.3", "[router][http1]") {
  struct Case {
    const char* text;
    bool was_head;
    BodyKind body;
    uint64_t length;
    bool keep_alive;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false, BodyKind::kLength, 12, true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, BodyKind::kLength, 0, true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", false, BodyKind::kLength, 7, true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, BodyKind::kChunked, 0, true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED,\r\n\r\n", false, BodyKind::kChunked, 0, true},
      {"HTTP/1.1 200 OK\r\n\r\n", false, BodyKind::kUntilClose, 0, false},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", false, BodyKind::kUntilClose, 0, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", false, BodyKind::kLength, 3, false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", false, BodyKind::kLength, 3,
       true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", false, BodyKind::kLength, 3, false},
      // No body whatever the fields say.
      {"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true, BodyKind::kNone, 12, true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, BodyKind::kNone, 0, true},
      {"HTTP/1.1 200 OK\r\n\r\n", true, BodyKind::kNone, 0, true},
      {"HTTP/1.1 204 No Content\r\n\r\n", false, BodyKind::kNone, 0, true},
      {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, BodyKind::kNone, 0, true},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", false, BodyKind::kNone, 100, true},
      {"HTTP/1.1 100 Continue\r\n\r\n", false, BodyKind::kNone, 0, true},
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", false,
       BodyKind::kNone, 0, true},
      {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false, BodyKind::kNone, 0, true},
      {"HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n", false, BodyKind::kLength, 0, true},
      {"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", false, BodyKind::kLength, 9, true},
  };
  for (const auto& c : cases) {
    INFO(Escaped(c.text) << (c.was_head ? " (HEAD)" : ""));
    Resp r;
    REQUIRE(r.Run(c.text, c.was_head) == Parse::kDone);
    CHECK(r.head->body == c.body);
    if (c.body != BodyKind::kChunked) CHECK(r.head->content_length == c.length);
    CHECK(r.head->keep_alive == c.keep_alive);
    CHECK(r.head->head_len == std::string_view(c.text).size());
  }
}

TEST_CASE("ParseResponse: status line", "[router][http1]") {
  struct Case {
    const char* line;
    int status;
    int minor;
    const char* reason;
  } cases[] = {
      {"HTTP/1.1 200 OK", 200, 1, "OK"},
      {"HTTP/1.0 404 Not Found", 404, 0, "Not Found"},
      {"HTTP/1.1 200", 200, 1, ""},
      {"HTTP/1.1 200 ", 200, 1, ""},
      {"HTTP/1.1 599 Odd\treason \xc3\xa9", 599, 1, "Odd\treason \xc3\xa9"},
      {"HTTP/1.1 999 x", 999, 1, "x"},
      {"HTTP/1.1 100 Continue", 100, 1, "Continue"},
  };
  for (const auto& c : cases) {
    std::string text = std::string(c.line) + "\r\nContent-Length: 0\r\n\r\n";
    INFO(Escaped(text));
    Resp r;
    REQUIRE(r.Run(text) == Parse::kDone);
    CHECK(r.head->status == c.status);
    CHECK(r.head->minor_version == c.minor);
    CHECK(r.head->reason == c.reason);
  }
}

TEST_CASE("ParseResponse: errors are 502", "[router][http1]") {
  const char* cases[] = {
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.2 200 OK\r\n\r\n",
      "HTTP/0.9 200 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 OK\r\n\r\n",
      "HTTP/1.1 abc OK\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "HTTP/1.1\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "\r\nHTTP/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x\r\n\r\n",
      // Ambiguous framing, or codings the router cannot forward: refused.
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close;x\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
  };
  for (const char* text : cases) {
    INFO(Escaped(text));
    Resp r;
    CHECK(r.Run(text) == Parse::kError);
    CHECK(r.err.status == 502);
    CHECK(std::string_view(r.err.message).size() > 0);
  }
}

TEST_CASE("ParseResponse: limits are 502", "[router][http1]") {
  std::string head = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(200, 'b') + "\r\nContent-Length: 0\r\n\r\n";
  Resp r;
  REQUIRE(r.Run(head, false, head.size()) == Parse::kDone);
  CHECK(r.Run(head, false, head.size() - 1) == Parse::kError);
  CHECK(r.err.status == 502);
  CHECK(r.Run(head.substr(0, 50), false, 50) == Parse::kError);
  CHECK(r.err.status == 502);
  CHECK(r.Run(head.substr(0, 50), false, 51) == Parse::kIncomplete);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i <= kMaxHeaders; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  CHECK(r.Run(many + "\r\n", false, 1 << 20) == Parse::kError);
  CHECK(r.err.status == 502);
}

TEST_CASE("ParseResponse: hop-by-hop fields", "[router][http1]") {
  std::string text =
      "HTTP/1.1 200 OK\r\n"
      "Connection: keep-alive, X-Internal, content-length\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Upgrade: h2c\r\n"
      "X-Internal: 1\r\n"
      "Transfer-Encoding: chunked\r\n"
      "X-Forwarded-For: 1.2.3.4\r\n"
      "X-Request-Id: r\r\n"
      "Set-Cookie: a=1\r\n"
      "\r\n";
  Resp r;
  REQUIRE(r.Run(text) == Parse::kDone);
  struct Want {
    const char* name;
    bool hop;
  } wants[] = {
      {"Connection", true},      {"Keep-Alive", true},       {"Proxy-Connection", true},
      {"TE", true},              {"Upgrade", true},          {"X-Internal", true},
      {"Transfer-Encoding", true}, {"X-Forwarded-For", false}, {"X-Request-Id", false},
      {"Set-Cookie", false},
  };
  REQUIRE(r.head->header_count == static_cast<int>(std::size(wants)));
  for (const auto& w : wants) {
    INFO(w.name);
    const HeaderField* f = Field(*r.head, w.name);
    REQUIRE(f != nullptr);
    CHECK(f->hop == w.hop);
  }
  CHECK(r.head->body == BodyKind::kChunked);
  CHECK(r.head->chunked);
  CHECK_FALSE(r.head->has_content_length);
  CHECK(r.head->keep_alive);
}

TEST_CASE("ParseResponse: framing present on bodiless answers is reported", "[router][http1]") {
  Resp r;
  REQUIRE(r.Run("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true) == Parse::kDone);
  CHECK(r.head->body == BodyKind::kNone);
  CHECK(r.head->has_content_length);
  CHECK(r.head->content_length == 12);
  CHECK(Field(*r.head, "Content-Length")->hop);
  REQUIRE(r.Run("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n") == Parse::kDone);
  CHECK(r.head->body == BodyKind::kNone);
  CHECK(r.head->chunked);
  CHECK_FALSE(r.head->has_content_length);
  REQUIRE(r.Run("HTTP/1.1 204 No Content\r\n\r\n") == Parse::kDone);
  CHECK_FALSE(r.head->chunked);
  CHECK_FALSE(r.head->has_content_length);
}

TEST_CASE("ParseResponse: every proper prefix is incomplete; body bytes are not head", "[router][http1]") {
  std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Empty:\r\n\r\n";
  Resp r;
  for (size_t len = 0; len < text.size(); ++len) {
    INFO("prefix " << len);
    Parse p = r.Run(std::string_view(text).substr(0, len));
    INFO(Name(p) << " " << r.err.message);
    REQUIRE(p == Parse::kIncomplete);
  }
  REQUIRE(r.Run(text + "hello" + "HTTP/1.1 204 No Content\r\n\r\n") == Parse::kDone);
  CHECK(r.head->head_len == text.size());
  CHECK(r.head->content_length == 5);
  CHECK(r.head->headers[1].line_end == text.size() - 2);
}

// ---- chunked bodies -------------------------------------------------------------

namespace {

struct FeedResult {
  size_t consumed = 0;
  bool done = false;
  bool error = false;
  std::string message;
};

// Feeds `data` in pieces of `piece` bytes (0: all at once) until done or error.
FeedResult FeedAll(ChunkedScanner& s, std::string_view data, size_t piece) {
  FeedResult r;
  size_t pos = 0;
  do {
    size_t len = piece == 0 ? data.size() - pos : std::min(piece, data.size() - pos);
    ChunkedScanner::Step st = s.Feed(data.substr(pos, len));
    r.consumed += st.consumed;
    if (st.error) {
      r.error = true;
      r.message = st.message;
      return r;
    }
    if (st.done) {
      r.done = true;
      return r;
    }
    REQUIRE(st.consumed == len);  // not done: everything belongs to the body
    pos += len;
  } while (pos < data.size());
  return r;
}

}  // namespace

TEST_CASE("ChunkedScanner: valid bodies end exactly, however they are split", "[router][http1][chunked]") {
  const std::string bodies[] = {
      "0\r\n\r\n",
      "5\r\nhello\r\n0\r\n\r\n",
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
      "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
      "000\r\n\r\n",
      "0005\r\nhello\r\n0\r\n\r\n",
      "5;name=value\r\nhello\r\n0;last\r\n\r\n",
      "5 ;a=\"quoted; value\"\r\nhello\r\n0\t; x\r\n\r\n",
      "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:  abc \r\nX-Empty:\r\n\r\n",
      "3\r\n\r\n\r\r\n0\r\n\r\n",  // data may hold CR and LF
      std::string("2\r\n\0\xff\r\n0\r\n\r\n", 12),
      "FFFFFFFFFFFFFFF0\r\n",     // only the start of a huge chunk: not done
  };
  const std::string tail = "GET /next HTTP/1.1\r\n";
  for (const std::string& body : bodies) {
    const bool complete = body.rfind("\r\n\r\n") == body.size() - 4;
    INFO(Escaped(body));
    for (size_t piece : {0, 1, 2, 3, 7}) {
      INFO("piece " << piece);
      ChunkedScanner s;
      FeedResult r = FeedAll(s, body + tail, piece);
      CHECK_FALSE(r.error);
      if (complete) {
        CHECK(r.done);
        CHECK(s.done());
        CHECK(r.consumed == body.size());
      } else {
        CHECK_FALSE(r.done);
        CHECK(r.consumed == body.size() + tail.size());
      }
    }
    // Every two-piece split.
    for (size_t cut = 0; cut <= body.size(); ++cut) {
      ChunkedScanner s;
      ChunkedScanner::Step a = s.Feed(std::string_view(body).substr(0, cut));
      REQUIRE_FALSE(a.error);
      if (a.done) {
        CHECK(a.consumed == body.size());
        CHECK(cut == body.size());
        continue;
      }
      CHECK(a.consumed == cut);
      ChunkedScanner::Step b = s.Feed(body.substr(cut) + tail);
      REQUIRE_FALSE(b.error);
      CHECK(b.done == complete);
      if (complete) CHECK(a.consumed + b.consumed == body.size());
    }
  }
}

TEST_CASE("ChunkedScanner: malformed framing", "[router][http1][chunked]") {
  struct Case {
    std::string body;
    size_t consumed_at_most;  // where the error is found at the latest
  } cases[] = {
      {"x\r\n", 0},                                  // non-hex size
      {"\r\n", 0},                                   // empty size
      {";ext\r\n", 0},
      {" 5\r\nhello\r\n0\r\n\r\n", 0},              // leading space
      {"+5\r\nhello\r\n0\r\n\r\n", 0},
      {"0x5\r\nhello\r\n0\r\n\r\n", 1},
      {"5 \r\nhello\r\n0\r\n\r\n", 2},              // BWS without an extension
      {"5 x\r\nhello\r\n0\r\n\r\n", 2},
      {"5\nhello\r\n0\r\n\r\n", 1},                 // bare LF
      {"5\rhello\r\n0\r\n\r\n", 2},                 // bare CR
      {"5;a\nb\r\nhello\r\n0\r\n\r\n", 3},         // LF in an extension
      {"5;a\x01\r\nhello\r\n0\r\n\r\n", 3},
      {"5\r\nhelloX\r\n0\r\n\r\n", 8},              // missing CRLF after data
      {"5\r\nhello\rX\n0\r\n\r\n", 9},
      {"5\r\nhello\n0\r\n\r\n", 8},
      {"3\r\nhello\r\n0\r\n\r\n", 6},               // data longer than the size
      {"12345678901234567\r\n", 16},                // 17 digits
      {"00000000000000000\r\n", 16},                // leading zeros count too
      {"0\r\n folded: x\r\n\r\n", 3},               // trailer obs-fold
      {"0\r\nBad Name: x\r\n\r\n", 6},
      {"0\r\n: x\r\n\r\n", 3},
      {"0\r\nX: a\x7f\r\n\r\n", 7},
      {"0\r\nX: a\nY: b\r\n\r\n", 7},
      {"0\r\nX: a\r\r\n\r\n", 8},
      {"0\r\n\rX", 4},                                // final CRLF broken
      {"0\r\n\n", 3},
  };
  for (const auto& c : cases) {
    INFO(Escaped(c.body));
    for (size_t piece : {0, 1}) {
      INFO("piece " << piece);
      ChunkedScanner s;
      FeedResult r = FeedAll(s, c.body, piece);
      CHECK(r.error);
      CHECK_FALSE(r.done);
      CHECK_FALSE(r.message.empty());
      CHECK(r.consumed <= c.consumed_at_most);
      // The error sticks.
      ChunkedScanner::Step again = s.Feed("0\r\n\r\n");
      CHECK(again.error);
      CHECK(again.consumed == 0);
      CHECK_FALSE(s.done());
    }
  }
}

TEST_CASE("ChunkedScanner: limits", "[router][http1][chunked]") {
  // 16 hex digits is the most; the largest is fine.
  {
    ChunkedScanner s;
    ChunkedScanner::Step st = s.Feed("FFFFFFFFFFFFFFFF\r\nabc");
    CHECK_FALSE(st.error);
    CHECK(st.consumed == 21);
  }
  // A size line of 4096 bytes (extension included) passes; 4097 does not.
  for (size_t line : {4096, 4097}) {
    INFO(line);
    std::string body = "5;" + std::string(line - 2, 'e') + "\r\nhello\r\n0\r\n\r\n";
    for (size_t piece : {0, 1}) {
      ChunkedScanner s;
      FeedResult r = FeedAll(s, body, piece);
      CHECK(r.error == (line > 4096));
      CHECK(r.done == (line <= 4096));
    }
  }
  // Long lines are fine again in the next chunk: the count is per line.
  {
    std::string ext(3000, 'e');
    std::string body = "1;" + ext + "\r\na\r\n1;" + ext + "\r\nb\r\n0;" + ext + "\r\n\r\n";
    ChunkedScanner s;
    FeedResult r = FeedAll(s, body, 0);
    CHECK(r.done);
    CHECK(r.consumed == body.size());
  }
  // Trailers: 32 KiB in total (the last chunk's line is not part of it).
  auto trailers = [](size_t total) {
    // Lines "X: vvv\r\n" then the final CRLF; the final CR counts, its LF ends the body.
    std::string t;
    size_t budget = total - 1;  // the final CR
    while (budget > 0) {
      size_t line = std::min<size_t>(budget, 1000);
      REQUIRE(line >= 4);  // "X:" and CRLF
      t += "X:" + std::string(line - 4, 'v') + "\r\n";
      budget -= line;
    }
    return "0\r\n" + t + "\r\n";
  };
  for (size_t total : {size_t{32 * 1024}, size_t{32 * 1024 + 1}}) {
    INFO(total);
    std::string body = trailers(total);
    for (size_t piece : {0, 1}) {
      ChunkedScanner s;
      FeedResult r = FeedAll(s, body, piece);
      CHECK(r.error == (total > 32 * 1024));
      CHECK(r.done == (total <= 32 * 1024));
    }
  }
}

TEST_CASE("ChunkedScanner: a big chunk is skipped, not scanned", "[router][http1][chunked]") {
  std::string data(100000, '\n');  // would be errors if read as framing
  ChunkedScanner s;
  ChunkedScanner::Step st = s.Feed("186A0\r\n");
  CHECK(st.consumed == 7);
  st = s.Feed(data.substr(0, 40000));
  CHECK(st.consumed == 40000);
  st = s.Feed(data.substr(40000));
  CHECK(st.consumed == 60000);
  st = s.Feed("\r\n0\r\n\r\nNEXT");
  CHECK(st.done);
  CHECK(st.consumed == 7);
}

TEST_CASE("ChunkedScanner: done sticks, Reset starts over, empty feeds are harmless", "[router][http1][chunked]") {
  ChunkedScanner s;
  ChunkedScanner::Step st = s.Feed("");
  CHECK(st.consumed == 0);
  CHECK_FALSE(st.done);
  CHECK_FALSE(st.error);
  st = s.Feed("0\r\n\r\n");
  CHECK(st.done);
  CHECK(s.done());
  st = s.Feed("5\r\nhello");
  CHECK(st.done);
  CHECK(st.consumed == 0);
  s.Reset();
  CHECK_FALSE(s.done());
  st = s.Feed("x");
  CHECK(st.error);
  s.Reset();
  st = s.Feed("2\r\nok\r\n0\r\n\r\n");
  CHECK(st.done);
  CHECK(st.consumed == 12);
}

TEST_CASE("ParseRequest: X-Forwarded-For lines give the last hop to the rate limit", "[router][http1]") {
  struct Case {
    const char* fields;
    const char* last_line;
    int lines;
  } cases[] = {
      {"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.0.0.7\r\n", "10.0.0.7", 2},
      {"X-Forwarded-For: 6.6.6.6, 7.7.7.7\r\nx-forwarded-for: 9.9.9.9, 10.0.0.7\r\n", "9.9.9.9, 10.0.0.7", 2},
      {"X-Forwarded-For: 10.0.0.7\r\nX-Forwarded-For:\r\n", "10.0.0.7", 2},  // an empty line adds no element
      {"X-Forwarded-For: 10.0.0.7\r\n", "10.0.0.7", 1},
  };
  for (const auto& c : cases) {
    INFO(Escaped(c.fields));
    Req r;
    REQUIRE(r.Run(std::string("GET / HTTP/1.1\r\nHost: a\r\n") + c.fields + "\r\n") == Parse::kDone);
    CHECK(r.head->x_forwarded_for == c.last_line);
    CHECK(r.head->x_forwarded_for_lines == c.lines);
    CHECK(skyport::router::ClientAddress("127.0.0.1", r.head->x_forwarded_for, true) == "10.0.0.7");
  }
}

TEST_CASE("ParseRequest: client forwarding and rewrite fields are never forwarded", "[router][http1]") {
  struct Case {
    const char* name;
    bool hop;
  } cases[] = {
      {"Forwarded", true},          {"forwarded", true},          {"X-Real-IP", true},
      {"X-Original-URL", true},     {"x-original-url", true},     {"X-Rewrite-URL", true},
      {"X-Forwarded-Port", true},   {"X-Forwarded-Prefix", true}, {"X-Forwarded-Server", false},
      {"X-Original-Host-Name", false}, {"Forwarded-X", false},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Req r;
    REQUIRE(r.Run(std::string("GET / HTTP/1.1\r\nHost: a\r\n") + c.name + ": /admin\r\n\r\n") == Parse::kDone);
    const HeaderField* f = Field(*r.head, c.name);
    REQUIRE(f != nullptr);
    CHECK(f->hop == c.hop);
    CHECK(r.head->forwarding_fields == (c.hop ? 1 : 0));
  }
  // Responses keep them (they are request routing fields only).
  Resp p;
  REQUIRE(p.Run("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nForwarded: for=1.2.3.4\r\n\r\n") == Parse::kDone);
  CHECK_FALSE(p.head->headers[1].hop);
}

TEST_CASE("ChunkedScanner: StripTrailers forwards the body with an empty trailer section", "[router][http1][chunked]") {
  struct Case {
    std::string in, out;
  } cases[] = {
      {"5\r\nhello\r\n0\r\nX-Skyport-User: victim\r\nContent-Length: 99\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"},
      {"5;e=1\r\nhello\r\n0;last\r\nX-Empty:\r\n\r\n", "5;e=1\r\nhello\r\n0;last\r\n\r\n"},
      {"0\r\nA:b\r\n\r\n", "0\r\n\r\n"},
      {"5\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"},
      {"3\r\n\r\n\r\r\n0\r\nT: v\r\n\r\n", "3\r\n\r\n\r\r\n0\r\n\r\n"},
  };
  const std::string tail = "GET /next HTTP/1.1\r\n";
  for (const auto& c : cases) {
    INFO(Escaped(c.in));
    // Every two-piece split: the kept bytes of both pieces are the stripped body.
    for (size_t cut = 0; cut <= c.in.size(); ++cut) {
      INFO("cut " << cut);
      ChunkedScanner s;
      std::string a = c.in.substr(0, cut), b = c.in.substr(cut) + tail;
      size_t ka = 0, kb = 0;
      ChunkedScanner::Step sa = s.StripTrailers(a.data(), a.size(), ka);
      REQUIRE_FALSE(sa.error);
      std::string got = a.substr(0, ka);
      if (!sa.done) {
        CHECK(sa.consumed == a.size());
        ChunkedScanner::Step sb = s.StripTrailers(b.data(), b.size(), kb);
        REQUIRE_FALSE(sb.error);
        CHECK(sb.done);
        CHECK(sb.consumed == c.in.size() - cut);
        got += b.substr(0, kb);
      }
      CHECK(Escaped(got) == Escaped(c.out));
    }
  }
}
