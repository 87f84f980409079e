// libFuzzer target: the router's chunked-body scanner (router/http1.h
// ChunkedScanner). The first byte picks a piece size; the body is fed whole
// and in pieces, and both ways must agree on where it ends or that it is
// malformed (the proxy sees the body as it streams in).
#include <algorithm>
#include <cstdint>
#include <string_view>

#include "fuzz/check.h"
#include "router/http1.h"

using skyport::router::http1::ChunkedScanner;

namespace {

struct Outcome {
  size_t consumed = 0;
  bool done = false;
  bool error = false;
};

Outcome Scan(std::string_view body, size_t piece) {
  ChunkedScanner s;
  Outcome o;
  for (size_t at = 0; at < body.size(); at += piece) {
    std::string_view part = body.substr(at, piece);
    ChunkedScanner::Step step = s.Feed(part);
    CHECK(step.consumed <= part.size());
    o.consumed += step.consumed;
    if (step.error) {
      CHECK(step.message[0] != '\0');
      o.error = true;
      ChunkedScanner::Step again = s.Feed(part);
      CHECK(again.error && again.consumed == 0);  // stays failed
      return o;
    }
    if (step.done) {
      CHECK(s.done());
      o.done = true;
      CHECK(s.Feed(part).consumed == 0);  // stays done
      return o;
    }
    CHECK(step.consumed == part.size());
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 16;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  Outcome whole = Scan(body, std::max<size_t>(body.size(), 1));
  Outcome split = Scan(body, piece);
  CHECK(whole.done == split.done && whole.error == split.error);
  if (whole.done) CHECK(whole.consumed == split.consumed);
  return 0;
}
