// libFuzzer target: the router's HTTP/1 request head parser (router/http1.h).
// Besides ASan/UBSan it checks what the proxy relies on: every view points
// into the buffer (but an absolute-form target's empty path, "/"), the head
// ends inside it, and a parse does not depend on how the bytes arrived (a
// prefix of a complete head is only ever incomplete).
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
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  constexpr size_t kLimit = 32 * 1024;  // the router's --max-header-bytes default
  static RequestHead head;              // 100 header slots: keep it off the stack
  ParseError err;
  Parse r = ParseRequest(buf, kLimit, head, err);
  if (r == Parse::kError) {
    CHECK(err.status == 400 || err.status == 431 || err.status == 501 || err.status == 505);
    return 0;
  }
  if (r != Parse::kDone) return 0;
  const std::string_view h = buf.substr(0, head.head_len);
  CHECK(head.head_len > 0 && head.head_len <= size && head.head_len <= kLimit);
  CHECK(head.header_count >= 0 && head.header_count <= kMaxHeaders);
  CHECK(head.minor_version == 0 || head.minor_version == 1);
  for (std::string_view v : {head.method, head.target, head.host, head.upgrade_proto, head.x_skyport_commit,
                             head.x_forwarded_for, head.x_request_id})
    CHECK(Inside(v, h));
  CHECK(Inside(head.path, h) || head.path == "/");  // absolute-form with an empty path: a static "/"
  for (int i = 0; i < head.header_count; ++i) {
    const HeaderField& f = head.headers[i];
    CHECK(Inside(f.name, h) && Inside(f.value, h) && !f.name.empty());
    CHECK(f.line_begin < f.line_end && f.line_end <= head.head_len);
  }
  (void)FindCookie(head, "skyport_uid");
  (void)FindCookie(head, "");

  // The same head alone parses the same; cut short it is only incomplete.
  const size_t head_len = head.head_len;
  const BodyKind body = head.body;
  const uint64_t length = head.content_length;
  CHECK(ParseRequest(h, kLimit, head, err) == Parse::kDone);
  CHECK(head.head_len == head_len && head.body == body && head.content_length == length);
  CHECK(ParseRequest(h.substr(0, head_len - 1), kLimit, head, err) == Parse::kIncomplete);
  CHECK(ParseRequest(h.substr(0, head_len / 2), kLimit, head, err) == Parse::kIncomplete);
  // At a limit it just fits; one byte less and it is too large (431), not an error of another kind.
  CHECK(ParseRequest(h, head_len, head, err) == Parse::kDone);
  if (ParseRequest(h, head_len - 1, head, err) == Parse::kError) CHECK(err.status == 431);
  return 0;
}
