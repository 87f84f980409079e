// libFuzzer target: the router's HTTP/1 response head parser (router/http1.h).
// The first input byte says whether the request was HEAD; the rest is what
// the upstream sent. Checks: views inside the buffer, errors are always 502,
// a prefix of a complete head is only incomplete.
#include <cstdint>
#include <string_view>

#include "fuzz/check.h"
#include "router/http1.h"

using namespace skyport::router::http1;

namespace {

bool Inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool was_head = data[0] & 1;
  const std::string_view buf(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr size_t kLimit = 32 * 1024;
  static ResponseHead head;
  ParseError err;
  Parse r = ParseResponse(buf, kLimit, was_head, head, err);
  if (r == Parse::kError) {
    CHECK(err.status == 502);
    return 0;
  }
  if (r != Parse::kDone) return 0;
  const std::string_view h = buf.substr(0, head.head_len);
  CHECK(head.head_len > 0 && head.head_len <= buf.size() && head.head_len <= kLimit);
  CHECK(head.status >= 100 && head.status <= 999);
  CHECK(head.header_count >= 0 && head.header_count <= kMaxHeaders);
  CHECK(Inside(head.reason, h));
  if (was_head) CHECK(head.body == BodyKind::kNone);
  for (int i = 0; i < head.header_count; ++i) {
    const HeaderField& f = head.headers[i];
    CHECK(Inside(f.name, h) && Inside(f.value, h) && !f.name.empty());
    CHECK(f.line_begin < f.line_end && f.line_end <= head.head_len);
  }
  const size_t head_len = head.head_len;
  const BodyKind body = head.body;
  const uint64_t length = head.content_length;
  CHECK(ParseResponse(h, kLimit, was_head, head, err) == Parse::kDone);
  CHECK(head.head_len == head_len && head.body == body && head.content_length == length);
  CHECK(ParseResponse(h.substr(0, head_len - 1), kLimit, was_head, head, err) == Parse::kIncomplete);
  CHECK(ParseResponse(h.substr(0, head_len / 2), kLimit, was_head, head, err) == Parse::kIncomplete);
  return 0;
}
