#include "router/http1.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "router/http1_fields.h"
#include "router/http1_lex.h"
#include "router/uri.h"

namespace skyport::router::http1 {

using namespace detail;

namespace {

// ---- request line -----------------------------------------------------------

// "HTTP/" DIGIT "." DIGIT; 1.0 and 1.1 only (1.2 and up, 0.9, 2.0: 505).
Parse ParseVersion(std::string_view v, int& minor, ParseError& err) {
  if (v.size() != 8 || std::memcmp(v.data(), "HTTP/", 5) != 0 || !IsDigit(v[5]) || v[6] != '.' ||
      !IsDigit(v[7])) {
    return Fail(err, 400, "malformed HTTP version");
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return Fail(err, 505, "HTTP version not supported");
  minor = v[7] - '0';
  return Parse::kDone;
}

// Origin-form "/p?q" -> "/p"; asterisk-form "*" -> "*"; absolute-form
// "scheme://authority/p?q" -> "/p" ("/" when the path is empty); CONNECT's
// authority-form -> "". Anything else is not a request-target.
bool PathOf(std::string_view method, std::string_view target, std::string_view& path) {
  if (target[0] == '/') {
    path = target.substr(0, target.find('?'));
    return true;
  }
  if (target == "*") {
    path = target;
    return true;
  }
  size_t sep = target.find("://");
  if (sep != std::string_view::npos && sep > 0 && IsAlpha(target[0])) {
    for (size_t i = 1; i < sep; ++i) {
      char c = target[i];
      if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
    }
    size_t start = target.find_first_of("/?", sep + 3);
    if (start == std::string_view::npos || target[start] == '?') {
      path = "/";
    } else {
      path = target.substr(start, target.find('?', start) - start);
    }
    return true;
  }
  if (method == "CONNECT") {
    path = {};
    return true;
  }
  return false;
}

Parse ParseRequestLine(std::string_view line, RequestHead& out, ParseError& err) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Fail(err, 400, "malformed request line");
  out.method = line.substr(0, sp1);
  if (!IsToken(out.method)) return Fail(err, 400, "invalid method");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Fail(err, 400, "malformed request line");
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (out.target.empty()) return Fail(err, 400, "empty request-target");
  if (ScanClass<0x21, kTgt>(out.target.data(), 0, out.target.size()) != out.target.size()) {
    return Fail(err, 400, "invalid character in request-target");
  }
  if (ParseVersion(line.substr(sp2 + 1), out.minor_version, err) != Parse::kDone) return Parse::kError;
  if (!PathOf(out.method, out.target, out.path)) return Fail(err, 400, "invalid request-target");
  out.is_head = out.method == "HEAD";
  return Parse::kDone;
}

// ---- status line ------------------------------------------------------------

// "HTTP/1.x NNN[ reason]"; statuses 100..999.
Parse ParseStatusLine(std::string_view line, ResponseHead& out, ParseError& err) {
  if (line.size() < 12 || std::memcmp(line.data(), "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    return Fail(err, 502, "malformed or unsupported status line");
  }
  if (line[9] < '1' || line[9] > '9' || !IsDigit(line[10]) || !IsDigit(line[11])) {
    return Fail(err, 502, "malformed status code");
  }
  if (line.size() > 12 && line[12] != ' ') return Fail(err, 502, "malformed status code");
  out.minor_version = line[7] - '0';
  out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  out.reason = line.size() > 12 ? line.substr(13) : std::string_view();
  if (ScanClass<0x20, kVal>(out.reason.data(), 0, out.reason.size()) != out.reason.size()) {
    return Fail(err, 502, "control character in reason phrase");
  }
  return Parse::kDone;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x == y) continue;
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

Parse ParseRequest(std::string_view buf, size_t max_head_bytes, RequestHead& out, ParseError& err) {
  const size_t n = buf.size();
  if (!HasBlankLine(buf)) return Incomplete(n, max_head_bytes, err);
  const char* b = buf.data();

  size_t pos = 0;  // RFC 9112 2.2: skip empty lines before the request line
  while (pos < n && b[pos] == '\r') {
    if (pos + 1 == n) return Incomplete(n, max_head_bytes, err);
    if (b[pos + 1] != '\n') return Fail(err, 400, "bare CR in head");
    pos += 2;
    if (pos >= max_head_bytes) return Fail(err, 431, "head too large");
  }
  const void* found = std::memchr(b + pos, '\n', n - pos);
  if (found == nullptr) return Incomplete(n, max_head_bytes, err);
  const size_t nl = static_cast<size_t>(static_cast<const char*>(found) - b);
  if (nl + 1 > max_head_bytes) return Fail(err, 431, "head too large");
  if (nl == pos || b[nl - 1] != '\r') return Fail(err, 400, "bare LF in head");
  if (ParseRequestLine(std::string_view(b + pos, nl - 1 - pos), out, err) != Parse::kDone) return Parse::kError;

  Fields f;
  Parse p = WalkFields(buf, nl + 1, max_head_bytes, true, out.headers, out.header_count, f, out.head_len, err);
  if (p != Parse::kDone) return p;

  if (f.host_count > 1) return Fail(err, 400, "duplicate Host");
  if (f.host_count == 0 && out.minor_version == 1) return Fail(err, 400, "missing Host");
  if (f.cl_count > 1) return Fail(err, 400, "duplicate Content-Length");
  if (f.cl_count == 1 && f.te) return Fail(err, 400, "Content-Length with Transfer-Encoding");
  if (f.conn_bad) return Fail(err, 400, "invalid Connection header");
  if (!uri::ValidHost(f.host)) return Fail(err, 400, "invalid Host");
  if (out.target[0] != '/' && out.target != "*" && out.method != "CONNECT") {
    std::string_view scheme, authority;
    if (!uri::SplitAbsolute(out.target, scheme, authority) || !uri::SameAuthority(scheme, authority, f.host))
      return Fail(err, 400, "request-target authority does not match Host");
  }

  out.body = BodyKind::kNone;
  out.content_length = 0;
  if (f.cl_count == 1) {
    if (!ParseLength(f.cl_value, out.content_length)) return Fail(err, 400, "invalid Content-Length");
    out.body = BodyKind::kLength;
  } else if (f.te) {
    // RFC 9112 6.1: HTTP/1.0 has no transfer codings; its framing is faulty.
    if (out.minor_version == 0) return Fail(err, 400, "Transfer-Encoding in HTTP/1.0");
    if (f.te_bad) return Fail(err, 400, "malformed Transfer-Encoding");
    if (!f.te_last_chunked) return Fail(err, 400, "chunked is not the final transfer coding");
    if (f.te_other) return Fail(err, 501, "unsupported transfer coding");
    out.body = BodyKind::kChunked;
  }

  if (f.conn_named) MarkConnectionNamed(out.headers, out.header_count);
  out.keep_alive = out.minor_version == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
  out.expect_continue = f.expect_continue && out.minor_version == 1;
  out.upgrade = f.conn_upgrade && f.has_upgrade;
  out.host = f.host;
  out.upgrade_proto = f.upgrade;
  out.x_skyport_commit = f.commit;
  out.x_forwarded_for = f.xff;
  out.x_forwarded_for_lines = f.xff_lines;
  out.forwarding_fields = f.forwarding;
  out.x_request_id = f.xrid;
  out.underscore_fields = f.underscores;
  return Parse::kDone;
}

Parse ParseResponse(std::string_view buf, size_t max_head_bytes, bool request_was_head, ResponseHead& out,
                    ParseError& err) {
  const size_t n = buf.size();
  if (!HasBlankLine(buf)) {
    if (n >= max_head_bytes) return Fail(err, 502, "response head too large");
    return Parse::kIncomplete;
  }
  const char* b = buf.data();
  const void* found = std::memchr(b, '\n', n);
  const size_t nl = static_cast<size_t>(static_cast<const char*>(found) - b);  // found: HasBlankLine
  if (nl + 1 > max_head_bytes) return Fail(err, 502, "response head too large");
  if (nl == 0 || b[nl - 1] != '\r') return Fail(err, 502, "bare LF in response head");
  if (ParseStatusLine(std::string_view(b, nl - 1), out, err) != Parse::kDone) return Parse::kError;

  Fields f;
  Parse p = WalkFields(buf, nl + 1, max_head_bytes, false, out.headers, out.header_count, f, out.head_len, err);
  if (p == Parse::kIncomplete) return p;
  if (p == Parse::kError) {
    err.status = 502;
    return p;
  }
  if (f.cl_differs) return Fail(err, 502, "conflicting Content-Length");
  out.content_length = 0;
  if (f.cl_count > 0 && !ParseLength(f.cl_value, out.content_length)) {
    return Fail(err, 502, "invalid Content-Length");
  }
  if (f.te_bad) return Fail(err, 502, "malformed Transfer-Encoding");
  // Ambiguous framing is refused, not repaired: the upstream that wrote it
  // and whatever sits between may disagree on where the message ends.
  if (f.te && f.cl_count > 0) return Fail(err, 502, "Content-Length with Transfer-Encoding");
  if (f.te && (f.te_other || !f.te_last_chunked)) return Fail(err, 502, "transfer coding other than chunked");
  if (f.te && out.minor_version == 0) return Fail(err, 502, "Transfer-Encoding in HTTP/1.0");
  if (f.conn_bad) return Fail(err, 502, "invalid Connection header");
  out.has_content_length = f.cl_count > 0;
  out.chunked = f.te;

  if (f.conn_named) MarkConnectionNamed(out.headers, out.header_count);
  out.keep_alive = out.minor_version == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);

  // RFC 9112 6.3, in order.
  if (request_was_head || out.status < 200 || out.status == 204 || out.status == 304) {
    out.body = BodyKind::kNone;
  } else if (f.te) {
    out.body = BodyKind::kChunked;
  } else if (f.cl_count > 0) {
    out.body = BodyKind::kLength;
  } else {
    out.body = BodyKind::kUntilClose;
    out.keep_alive = false;
  }
  return Parse::kDone;
}

std::string_view FindCookie(const RequestHead& req, std::string_view name) {
  for (int i = 0; i < req.header_count; ++i) {
    const HeaderField& h = req.headers[i];
    if (!LowerIs(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = TrimWs(rest.substr(0, semi));
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && TrimWs(pair.substr(0, eq)) == name) {
        return TrimWs(pair.substr(eq + 1));
      }
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
  return {};
}

}  // namespace skyport::router::http1
