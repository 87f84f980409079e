#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>

#include "router/http1.h"
#include "router/io_buf.h"

namespace skyport::router {
namespace {

// Decodes `wire` arriving in pieces of `step` bytes, the way the proxy does
// for HTTP/1.0 clients: in place in an IoBuf, the framing erased.
std::string DecodeInPieces(const std::string& wire, size_t step, bool& done, bool& error, std::string& after) {
  IoBuf in(1 << 16);
  http1::ChunkedScanner sc;
  size_t ready = 0;  // decoded bytes at the front
  done = error = false;
  for (size_t off = 0; off < wire.size() && !done && !error; off += step) {
    const size_t n = std::min(step, wire.size() - off);
    std::memcpy(in.write_ptr(), wire.data() + off, n);
    in.Commit(n);
    size_t payload = 0;
    auto s = sc.Decode(in.mutable_data() + ready, in.size() - ready, payload);
    if (s.error) {
      error = true;
      break;
    }
    if (s.consumed > payload) in.Erase(ready + payload, s.consumed - payload);
    ready += payload;
    done = s.done;
  }
  after = std::string(in.data() + ready, in.size() - ready);
  return std::string(in.data(), ready);
}

TEST_CASE("ChunkedScanner::Decode: data in place, framing, extensions and trailers gone", "[router]") {
  const std::string wire =
      "5\r\nhello\r\n7;ext=\"x\"\r\n, world\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: t\r\n\r\n"
      "HTTP/1.1 200 OK\r\n";  // bytes after the body stay after it
  for (size_t step : {1, 2, 3, 7, 64, 4096}) {
    INFO("step " << step);
    bool done, error;
    std::string after;
    const std::string body = DecodeInPieces(wire, step, done, error, after);
    CHECK_FALSE(error);
    CHECK(done);
    CHECK(body == "hello, worldabcdefghijklmnopqrstuvwxyz");
    // Pieces past the end were not fed: what is left is a prefix of the extra bytes.
    CHECK(std::string("HTTP/1.1 200 OK\r\n").starts_with(after));
  }
  bool done, error;
  std::string after;
  DecodeInPieces("5\r\nhelloX\r\n0\r\n\r\n", 3, done, error, after);
  CHECK(error);  // same errors as Feed
}

}  // namespace
}  // namespace skyport::router
