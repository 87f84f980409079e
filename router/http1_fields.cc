#include "router/http1_fields.h"

namespace skyport::router::http1::detail {
namespace {

void ScanCodings(std::string_view value, Fields& f) {
  f.te = true;
  ForEachElement(value, [&](std::string_view el) {
    if (LowerIs(el, "chunked")) {
      if (++f.te_chunked > 1) f.te_bad = true;
      f.te_last_chunked = true;
    } else {
      if (!IsToken(el)) f.te_bad = true;  // e.g. parameters: no coding we know takes any
      f.te_other = true;
      f.te_last_chunked = false;
    }
  });
}

void ScanConnection(std::string_view value, Fields& f) {
  ForEachElement(value, [&](std::string_view el) {
    if (!IsToken(el)) {
      f.conn_bad = true;
    } else if (LowerIs(el, "close")) {
      f.conn_close = true;
    } else if (LowerIs(el, "keep-alive")) {
      f.conn_keep_alive = true;
    } else if (LowerIs(el, "upgrade")) {
      f.conn_upgrade = true;
    } else {
      f.conn_named = true;
    }
  });
}


}  // namespace

// Parses field lines from `pos` through the empty line, in one pass: the name
// is scanned as a token up to its colon, the value with ScanClass up to the
// CR, which must be followed by LF. Statuses are the request ones (400/431);
// ParseResponse maps every error to 502.
Parse WalkFields(std::string_view buf, size_t pos, size_t max_head_bytes, bool request, HeaderField* hs,
                 int& count, Fields& f, size_t& head_len, ParseError& err) {
  const char* b = buf.data();
  const size_t n = buf.size();
  // Usually the buffer ends in "\n": then a token scan stops without a bound check.
  const bool ends_outside_token = n > 0 && !InClass(b[n - 1], kTok);
  count = 0;
  for (;;) {
    if (pos >= n) return Incomplete(n, max_head_bytes, err);
    const char c0 = b[pos];
    if (c0 == '\r') {
      if (pos + 1 == n) return Incomplete(n, max_head_bytes, err);
      if (b[pos + 1] != '\n') return Fail(err, 400, "bare CR in head");
      head_len = pos + 2;
      if (head_len > max_head_bytes) return Fail(err, 431, "head too large");
      return Parse::kDone;
    }
    if (c0 == '\n') return Fail(err, 400, "bare LF in head");
    if (IsWs(c0)) return Fail(err, 400, "obs-fold (continuation line) in head");

    size_t i = pos;
    if (ends_outside_token) {
      while (InClass(b[i], kTok)) ++i;
    } else {
      while (i < n && InClass(b[i], kTok)) ++i;
      if (i == n) return Incomplete(n, max_head_bytes, err);
    }
    if (b[i] != ':') {
      if (IsWs(b[i])) {
        while (i < n && IsWs(b[i])) ++i;
        if (i < n && b[i] == ':') return Fail(err, 400, "whitespace before colon in field line");
      }
      if (i < n && (b[i] == '\r' || b[i] == '\n')) return Fail(err, 400, "field line without colon");
      if (i == n) return Incomplete(n, max_head_bytes, err);
      return Fail(err, 400, "invalid field name");
    }
    if (i == pos) return Fail(err, 400, "empty field name");
    const std::string_view name(b + pos, i - pos);

    size_t v = i + 1;
    const size_t e = ScanClass<0x20, kVal>(b, v, n);
    if (e == n) return Incomplete(n, max_head_bytes, err);
    if (b[e] != '\r') return Fail(err, 400, b[e] == '\n' ? "bare LF in head" : "control character in field value");
    if (e + 1 == n) return Incomplete(n, max_head_bytes, err);
    if (b[e + 1] != '\n') return Fail(err, 400, "bare CR in field value");
    const size_t next = e + 2;
    if (next > max_head_bytes) return Fail(err, 431, "head too large");
    while (v < e && IsWs(b[v])) ++v;
    size_t ve = e;
    while (ve > v && IsWs(b[ve - 1])) --ve;
    const std::string_view value(b + v, ve - v);
    if (count == kMaxHeaders) return Fail(err, 431, "too many header fields");

    HeaderField& h = hs[count++];
    h.name = name;
    h.value = value;
    h.line_begin = static_cast<uint32_t>(pos);
    h.line_end = static_cast<uint32_t>(next);
    h.hop = false;
    h.underscore = false;
    switch (Classify(name)) {
      case Known::kOther:
        if (request && std::memchr(name.data(), '_', name.size()) != nullptr) {
          h.underscore = true;
          h.hop = FoldsIntoKnown(name);
          ++f.underscores;
        }
        break;
      case Known::kHost:
        if (f.host_count++ == 0) f.host = value;
        break;
      case Known::kContentLength:
        h.hop = true;  // the router writes the framing it uses
        if (f.cl_count++ == 0) {
          f.cl_value = value;
        } else if (value != f.cl_value) {
          f.cl_differs = true;
        }
        break;
      case Known::kTransferEncoding:
        h.hop = true;
        ScanCodings(value, f);
        break;
      case Known::kConnection:
        h.hop = true;
        ScanConnection(value, f);
        break;
      case Known::kKeepAlive:
      case Known::kProxyConnection:
      case Known::kTe: h.hop = true; break;
      case Known::kUpgrade:
        h.hop = true;
        if (!f.has_upgrade) f.upgrade = value;
        f.has_upgrade = true;
        break;
      case Known::kExpect:
        if (LowerIs(value, "100-continue")) f.expect_continue = true;
        break;
      case Known::kXForwardedFor:
        // RFC 9110 5.3: several lines are one comma-joined list; a proxy in
        // front appends its line after the client's, so the last hop is in
        // the last non-empty line.
        h.hop = request;
        ++f.xff_lines;
        if (!value.empty()) f.xff = value;
        break;
      case Known::kXForwardedProto:
      case Known::kXForwardedHost: h.hop = request; break;
      case Known::kXRequestId:
        h.hop = request;
        if (f.xrid.data() == nullptr) f.xrid = value;
        break;
      case Known::kXSkyportCommit:
        if (f.commit.data() == nullptr) f.commit = value;
        break;
      case Known::kXSkyportOwn: h.hop = request; break;
      case Known::kClientForwarding:
        h.hop = request;
        if (request) ++f.forwarding;
        break;
    }
    pos = next;
  }
}

bool FoldsIntoKnown(std::string_view name) {
  char folded[32];
  if (name.size() > sizeof folded) return false;  // longer than any name Classify knows
  for (size_t i = 0; i < name.size(); ++i) folded[i] = name[i] == '_' ? '-' : name[i];
  return Classify(std::string_view(folded, name.size())) != Known::kOther;
}

// Second pass, only when Connection names fields: mark them hop-by-hop. A
// Connection header can never strip framing or routing (Content-Length,
// Transfer-Encoding, Host): dropping those while forwarding the body is a
// desync.
void MarkConnectionNamed(HeaderField* hs, int count) {
  for (int i = 0; i < count; ++i) {
    if (!LowerIs(hs[i].name, "connection")) continue;
    ForEachElement(hs[i].value, [&](std::string_view tok) {
      if (LowerIs(tok, "close") || LowerIs(tok, "keep-alive") || LowerIs(tok, "upgrade")) return;
      for (int j = 0; j < count; ++j) {
        HeaderField& h = hs[j];
        if (h.hop || !EqualsIgnoreCase(h.name, tok)) continue;
        Known k = Classify(h.name);
        if (k == Known::kContentLength || k == Known::kTransferEncoding || k == Known::kHost) continue;
        h.hop = true;
      }
    });
  }
}

}  // namespace skyport::router::http1::detail
