#include "router/head_write.h"

#include <iterator>

#include <fmt/format.h>

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

void AppendForwardedHead(std::string& f, const char* base, const http1::RequestHead& r, const ForwardedFields& x,
                         Random& rng) {
  size_t line_begin = static_cast<size_t>(r.method.data() - base);
  size_t line_end = r.header_count > 0 ? r.headers[0].line_begin : r.head_len - 2;
  if (x.path_rewritten || r.target[0] != '/') {
    // A normalised path, or an absolute-form target: origin-form with the
    // path routed on, so that the upstream sees what the router matched.
    size_t q = r.target.find('?');
    f.append(r.method).append(" ").append(r.path);
    if (q != std::string_view::npos) f.append(r.target.substr(q));
    f.append(r.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  } else {
    f.append(base + line_begin, line_end - line_begin);
  }
  AppendEndToEnd(f, base, line_end, r.headers, r.header_count);
  // Framing of our own, never the client's bytes (see http1.h).
  if (r.body == http1::BodyKind::kLength) {
    fmt::format_to(std::back_inserter(f), "Content-Length: {}\r\n", r.content_length);
  } else if (r.body == http1::BodyKind::kChunked) {
    f.append("Transfer-Encoding: chunked\r\n");
  }
  f.append("X-Forwarded-For: ");
  if (r.x_forwarded_for_lines > 1) {
    // RFC 9110 5.3: the lines are one list; forward it joined, in order.
    for (int i = 0; i < r.header_count; ++i) {
      const http1::HeaderField& h = r.headers[i];
      if (h.value.empty() || !http1::EqualsIgnoreCase(h.name, "x-forwarded-for")) continue;
      f.append(h.value);
      f.append(", ");
    }
  } else if (!r.x_forwarded_for.empty()) {
    f.append(r.x_forwarded_for);
    f.append(", ");
  }
  f.append(x.peer);
  f.append("\r\nX-Forwarded-Proto: ");
  f.append(x.proto);
  if (!r.host.empty()) {
    f.append("\r\nX-Forwarded-Host: ");
    f.append(r.host);
  }
  f.append("\r\nX-Request-Id: ");
  if (UsableRequestId(r.x_request_id)) {
    f.append(r.x_request_id);
  } else {
    AppendHex(f, rng.Next());
    AppendHex(f, rng.Next());
  }
  f.append("\r\nX-Skyport-User: ");
  f.append(x.user_id);
  if (x.in_flight) {
    f.append("\r\nX-Skyport-Flight: ");
    f.append(x.flight_name);
  }
  if (r.upgrade) {
    f.append("\r\nConnection: upgrade\r\nUpgrade: ");
    f.append(r.upgrade_proto);
  } else if (r.minor_version == 0) {
    f.append("\r\nConnection: keep-alive");
  }
  f.append("\r\n\r\n");
}

void AppendRelayedHead(std::string& o, const char* base, const http1::ResponseHead& h, const RelayedFields& x) {
  size_t line_end = h.header_count > 0 ? h.headers[0].line_begin : h.head_len - 2;
  o.append(base, line_end);
  AppendEndToEnd(o, base, line_end, h.headers, h.header_count);
  // Framing of our own (see http1.h). A HEAD or 304 answer keeps the length
  // or coding its GET would have had; 1xx and 204 have none. An HTTP/1.0
  // client knows no chunked coding (RFC 9112 6.1: never send it one): its
  // body goes out decoded (the proxy's Client::dechunk), ended by the close,
  // as nginx does.
  const bool meta_only = x.request_was_head || h.status == 304;
  if (h.body == http1::BodyKind::kLength || (h.body == http1::BodyKind::kNone && meta_only && h.has_content_length)) {
    fmt::format_to(std::back_inserter(o), "Content-Length: {}\r\n", h.content_length);
  } else if (x.client_minor > 0 &&
             (h.body == http1::BodyKind::kChunked || (h.body == http1::BodyKind::kNone && meta_only && h.chunked))) {
    o.append("Transfer-Encoding: chunked\r\n");
  }
  std::string_view upgrade_value;
  if (h.status == 101)
    for (int i = 0; i < h.header_count; ++i)
      if (http1::EqualsIgnoreCase(h.headers[i].name, "upgrade")) upgrade_value = h.headers[i].value;
  o.append("X-Skyport-Commit: ");
  o.append(x.commit);
  o.append("\r\nX-Skyport-Instance: ");
  o.append(x.instance);
  if (!x.set_cookie.empty()) {
    o.append("\r\nSet-Cookie: ");
    o.append(x.set_cookie);
  }
  if (h.status == 101) {
    o.append("\r\nConnection: upgrade\r\nUpgrade: ");
    o.append(upgrade_value);
  } else if (x.close) {
    o.append("\r\nConnection: close");
  } else if (x.client_minor == 0) {
    o.append("\r\nConnection: keep-alive");
  }
  o.append("\r\n\r\n");
}

}  // namespace skyport::router
