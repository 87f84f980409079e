#include "router/head_write.h"

namespace skyport::router {

bool UsableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char ch : id)
    if (ch <= 0x20 || ch >= 0x7f) return false;
  return true;
}

void AppendEndToEnd(std::string& out, const char* base, size_t from, const http1::HeaderField* fields, int count) {
  size_t run_begin = from, run_end = from;
  for (int i = 0; i < count; ++i) {
    if (fields[i].hop) {
      out.append(base + run_begin, run_end - run_begin);
      run_begin = run_end = fields[i].line_end;
    } else {
      run_end = fields[i].line_end;
    }
  }
  out.append(base + run_begin, run_end - run_begin);
}

void AppendHex(std::string& out, uint64_t v) {
  static const char* kHex = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = kHex[v & 15];
  out.append(buf, 16);
}

}  // namespace skyport::router
