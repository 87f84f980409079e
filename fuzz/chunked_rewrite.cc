// libFuzzer target: the router's in-place rewrites of chunked bodies
// (router/http1.h ChunkedScanner::Decode, for HTTP/1.0 clients, and
// ::StripTrailers, for requests sent upstream). The first byte picks a piece
// size; the body is rewritten whole and in pieces (as it streams in). Both
// rewrites must end where Feed ends, or fail where it fails, whatever the
// pieces; give the same bytes whole and in pieces; and StripTrailers must
// leave a chunked body that scans to the same end, decodes to the same
// payload and has no trailer left (stripping it again changes nothing).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "router/http1.h"

using skyport::router::http1::ChunkedScanner;

namespace {

enum class Mode { kFeed, kDecode, kStrip };

struct Outcome {
  size_t consumed = 0;
  bool done = false;
  bool error = false;
  std::string out;  // Decode: the payload; StripTrailers: the kept bytes
};

Outcome Run(Mode mode, std::string_view body, size_t piece) {
  ChunkedScanner s;
  Outcome o;
  std::string buf;
  for (size_t at = 0; at < body.size(); at += piece) {
    buf.assign(body.substr(at, piece));
    ChunkedScanner::Step step;
    size_t n = 0;
    if (mode == Mode::kFeed) {
      step = s.Feed(buf);
    } else if (mode == Mode::kDecode) {
      step = s.Decode(buf.data(), buf.size(), n);
    } else {
      step = s.StripTrailers(buf.data(), buf.size(), n);
    }
    CHECK(step.consumed <= buf.size());
    CHECK(n <= step.consumed || (step.error && n <= buf.size()));
    o.consumed += step.consumed;
    if (mode != Mode::kFeed) o.out.append(buf, 0, std::min(n, step.consumed));
    if (step.error) {
      o.error = true;
      return o;
    }
    if (step.done) {
      o.done = true;
      return o;
    }
    CHECK(step.consumed == buf.size());
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 16;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t all = std::max<size_t>(body.size(), 1);
  const Outcome feed = Run(Mode::kFeed, body, all);
  for (Mode mode : {Mode::kDecode, Mode::kStrip}) {
    const Outcome whole = Run(mode, body, all);
    const Outcome split = Run(mode, body, piece);
    for (const Outcome* o : {&whole, &split}) {
      CHECK(o->done == feed.done && o->error == feed.error);
      if (feed.done) CHECK(o->consumed == feed.consumed);
    }
    if (!feed.done) continue;
    CHECK(whole.out == split.out);
    CHECK(whole.out.size() <= feed.consumed);
  }
  if (!feed.done) return 0;
  const std::string payload = Run(Mode::kDecode, body, all).out;
  const std::string stripped = Run(Mode::kStrip, body, all).out;
  const Outcome rescan = Run(Mode::kFeed, stripped, std::max<size_t>(stripped.size(), 1));
  CHECK(rescan.done && rescan.consumed == stripped.size());
  CHECK(Run(Mode::kDecode, stripped, stripped.size()).out == payload);
  CHECK(Run(Mode::kStrip, stripped, stripped.size()).out == stripped);
  CHECK(stripped.size() >= 5 && stripped.compare(stripped.size() - 4, 4, "\r\n\r\n") == 0);
  return 0;
}
