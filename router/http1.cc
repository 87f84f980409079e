#include "router/http1.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "router/uri.h"

namespace skyport::router::http1 {
namespace {

// ---- byte classes -----------------------------------------------------------

enum : uint8_t {
  kTok = 1,  // tchar (RFC 9110 5.6.2)
  kVal = 2,  // field-value byte: SP, HTAB, VCHAR, obs-text
  kTgt = 4,  // request-target byte: anything but controls, SP and DEL
  kHex = 8,
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum) f |= kTok;
    for (char s : std::string_view("!#$%&'*+-.^_`|~")) {
      if (c == static_cast<unsigned char>(s)) f |= kTok;
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7F)) f |= kVal;
    if (c > 0x20 && c != 0x7F) f |= kTgt;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= kHex;
    t[c] = f;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClass = MakeClasses();

inline bool InClass(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool IsWs(char c) { return c == ' ' || c == '\t'; }

bool AllOf(std::string_view s, uint8_t cls) {
  for (char c : s) {
    if (!InClass(c, cls)) return false;
  }
  return true;
}
inline bool IsToken(std::string_view s) { return !s.empty() && AllOf(s, kTok); }

inline uint64_t Load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint32_t Load4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// Index of the first byte at or after `i` outside class kCls, or `n`. kCls
// must hold every byte in [kLo, 0x7F) and above 0x7F, and nothing below kLo
// but perhaps HTAB. Eight bytes at a time: the "has a byte below kLo" and "has
// a zero byte" word tests (Bit Twiddling Hacks) may flag extra bytes, but only
// above the first true one, so the lowest flag is exact (little-endian).
template <uint8_t kLo, uint8_t kCls>
size_t ScanClass(const char* b, size_t i, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  if constexpr (std::endian::native == std::endian::little) {
    while (i + 8 <= n) {
      const uint64_t w = Load8(b + i);
      const uint64_t del = w ^ (kOnes * 0x7F);
      const uint64_t flags = (((w - kOnes * kLo) & ~w) | ((del - kOnes) & ~del)) & kHigh;
      if (flags == 0) {
        i += 8;
        continue;
      }
      i += static_cast<size_t>(std::countr_zero(flags)) / 8;
      if (!InClass(b[i], kCls)) return i;  // else HTAB in a class that allows it
      ++i;
    }
  }
  while (i < n && InClass(b[i], kCls)) ++i;
  return i;
}

// Compares `s` against a lowercase literal made of letters, digits and '-'.
// OR-ing 0x20 folds only letters for such a literal, provided `s` holds no
// control characters (0x0D|0x20 == '-', 0x10..0x19|0x20 are digits): callers
// pass tokens or validated field values only.
inline bool LowerIs(std::string_view s, std::string_view lower) {
  const size_t n = s.size();
  if (n != lower.size()) return false;
  const char* a = s.data();
  const char* l = lower.data();
  if (n >= 8) {  // whole words, the last one overlapping
    constexpr uint64_t kFold = 0x2020202020202020ull;
    for (size_t i = 0; i + 8 < n; i += 8) {
      if ((Load8(a + i) | kFold) != Load8(l + i)) return false;
    }
    return (Load8(a + n - 8) | kFold) == Load8(l + n - 8);
  }
  if (n >= 4) {
    constexpr uint32_t kFold = 0x20202020u;
    return (Load4(a) | kFold) == Load4(l) && (Load4(a + n - 4) | kFold) == Load4(l + n - 4);
  }
  for (size_t i = 0; i < n; ++i) {
    if ((a[i] | 0x20) != l[i]) return false;
  }
  return true;
}

std::string_view TrimWs(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsWs(s[b])) ++b;
  while (e > b && IsWs(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Calls fn(element) for each non-empty element of a comma-separated list,
// OWS trimmed (RFC 9110 5.6.1: empty elements are ignored).
template <typename Fn>
void ForEachElement(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view el = TrimWs(list.substr(0, comma));
    if (!el.empty()) fn(el);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// 1..19 decimal digits: cannot overflow uint64_t. "+5", "5 5", "5,5" fail.
bool ParseLength(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

inline Parse Fail(ParseError& err, int status, const char* message) {
  err.status = status;
  err.message = message;
  return Parse::kError;
}

inline Parse Incomplete(size_t have, size_t max_head_bytes, ParseError& err) {
  if (have >= max_head_bytes) return Fail(err, 431, "head too large");
  return Parse::kIncomplete;
}

// Cheap pre-check before a (re-)parse: is there a line ending followed by an
// empty line anywhere? Bare-LF variants count too, so that a head using them
// gets its 400 now instead of waiting for a "\r\n\r\n" that never comes.
bool HasBlankLine(std::string_view buf) {
  const char* p = buf.data();
  const char* end = p + buf.size();
  if (buf.size() >= 3 && end[-1] == '\n' && end[-2] == '\r' && end[-3] == '\n') return true;
  while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)))) != nullptr) {
    ++p;
    if (p == end) return false;
    if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) return true;
  }
  return false;
}

// ---- field lines ------------------------------------------------------------

enum class Known : uint8_t {
  kOther, kHost, kContentLength, kTransferEncoding, kConnection, kKeepAlive, kProxyConnection, kTe,
  kUpgrade, kExpect, kXForwardedFor, kXForwardedProto, kXForwardedHost, kXRequestId, kXSkyportCommit,
  kXSkyportOwn,  // X-Skyport-User / X-Skyport-Flight: only the router may set them
  kClientForwarding,  // Forwarded, X-Real-IP, X-Original-URL, ...: frameworks trust them, only a proxy may set them
};

// `n` is a validated token.
Known Classify(std::string_view n) {
  switch (n.size()) {
    case 2: return LowerIs(n, "te") ? Known::kTe : Known::kOther;
    case 4: return LowerIs(n, "host") ? Known::kHost : Known::kOther;
    case 6: return LowerIs(n, "expect") ? Known::kExpect : Known::kOther;
    case 7: return LowerIs(n, "upgrade") ? Known::kUpgrade : Known::kOther;
    case 9:
      if (LowerIs(n, "forwarded")) return Known::kClientForwarding;
      return LowerIs(n, "x-real-ip") ? Known::kClientForwarding : Known::kOther;
    case 10:
      if (LowerIs(n, "connection")) return Known::kConnection;
      return LowerIs(n, "keep-alive") ? Known::kKeepAlive : Known::kOther;
    case 12: return LowerIs(n, "x-request-id") ? Known::kXRequestId : Known::kOther;
    case 13: return LowerIs(n, "x-rewrite-url") ? Known::kClientForwarding : Known::kOther;
    case 14:
      if (LowerIs(n, "x-skyport-user")) return Known::kXSkyportOwn;
      if (LowerIs(n, "x-original-url")) return Known::kClientForwarding;
      return LowerIs(n, "content-length") ? Known::kContentLength : Known::kOther;
    case 15: return LowerIs(n, "x-forwarded-for") ? Known::kXForwardedFor : Known::kOther;
    case 16:
      if (LowerIs(n, "proxy-connection")) return Known::kProxyConnection;
      if (LowerIs(n, "x-forwarded-host")) return Known::kXForwardedHost;
      if (LowerIs(n, "x-skyport-flight")) return Known::kXSkyportOwn;
      if (LowerIs(n, "x-forwarded-port")) return Known::kClientForwarding;
      return LowerIs(n, "x-skyport-commit") ? Known::kXSkyportCommit : Known::kOther;
    case 17:
      if (LowerIs(n, "transfer-encoding")) return Known::kTransferEncoding;
      return LowerIs(n, "x-forwarded-proto") ? Known::kXForwardedProto : Known::kOther;
    case 18: return LowerIs(n, "x-forwarded-prefix") ? Known::kClientForwarding : Known::kOther;
    default: return Known::kOther;
  }
}

// What the walk over the field lines learned. Absent values keep a null
// data() so that "first field wins" needs no extra flags.
struct Fields {
  int host_count = 0;
  int cl_count = 0;
  bool cl_differs = false;
  bool te = false;
  bool te_last_chunked = false;
  bool te_other = false;      // a coding other than chunked
  bool te_bad = false;        // malformed element, or chunked applied twice
  int te_chunked = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool conn_named = false;    // Connection names other fields
  bool conn_bad = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  int underscores = 0;        // request field names with '_'
  int forwarding = 0;         // request fields of kClientForwarding (dropped)
  int xff_lines = 0;          // X-Forwarded-For field lines
  std::string_view host, cl_value, upgrade, xff, xrid, commit;
};

// A field name with '_' that CGI/WSGI would read as a name the router owns
// or frames with ("Transfer_Encoding" is HTTP_TRANSFER_ENCODING there).
bool FoldsIntoKnown(std::string_view name);

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

// ---- chunked ------------------------------------------------------------------

namespace {
constexpr size_t kMaxSizeLine = 4096;
constexpr size_t kMaxTrailerBytes = 32 * 1024;
constexpr int kMaxSizeDigits = 16;

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}
}  // namespace

ChunkedScanner::Step ChunkedScanner::Feed(std::string_view data) {
  return Scan(data.data(), data.size(), nullptr, nullptr);
}

ChunkedScanner::Step ChunkedScanner::Decode(char* data, size_t n, size_t& payload) {
  payload = 0;
  return Scan(data, n, data, &payload);
}

ChunkedScanner::Step ChunkedScanner::StripTrailers(char* data, size_t n, size_t& kept) {
  kept = 0;
  return Scan(data, n, data, &kept, /*keep_framing=*/true);
}

ChunkedScanner::Step ChunkedScanner::Scan(const char* p, const size_t n, char* out, size_t* payload,
                                          bool keep_framing) {
  Step step;
  if (state_ == State::kDone) {
    step.done = true;
    return step;
  }
  size_t i = 0;
  auto fail = [&](const char* message) {
    state_ = State::kError;
    error_ = message;
    step.consumed = i;
    step.error = true;
    step.message = message;
    return step;
  };
  if (state_ == State::kError) return fail(error_);

  while (i < n) {
    const char c = p[i];
    if (keep_framing && state_ != State::kData) {
      // StripTrailers: every byte but those of trailer field lines moves down
      // (*payload <= i); the last chunk then ends with an empty trailer section.
      const bool field = state_ == State::kTrailerName || state_ == State::kTrailerValue ||
                         state_ == State::kTrailerLf || (state_ == State::kTrailerStart && c != '\r');
      if (!field) out[(*payload)++] = c;
    }
    switch (state_) {
      case State::kSize:
        if (InClass(c, kHex)) {
          if (++size_digits_ > kMaxSizeDigits) return fail("chunk size overflows 16 hex digits");
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(HexValue(c));
        } else if (size_digits_ == 0) {
          return fail("invalid chunk size");
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExt;
        } else if (IsWs(c)) {
          state_ = State::kSizeWs;
        } else {
          return fail("invalid chunk size");
        }
        break;
      case State::kSizeWs:  // BWS is only allowed before a chunk extension
        if (c == ';') {
          state_ = State::kExt;
        } else if (!IsWs(c)) {
          return fail("invalid chunk size line");
        }
        break;
      case State::kExt:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (!InClass(c, kVal)) {
          return fail("control character in chunk extension");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return fail("chunk size line not ended by CRLF");
        line_bytes_ = 0;
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        ++i;
        continue;
      case State::kData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        if (out) {  // Decode: the data moves down over the framing before it (*payload <= i)
          if (out + *payload != p + i) std::memmove(out + *payload, p + i, take);
          *payload += take;
        }
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataCr;
        continue;
      }
      case State::kDataCr:
        if (c != '\r') return fail("missing CRLF after chunk data");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail("missing CRLF after chunk data");
        state_ = State::kSize;
        size_digits_ = 0;
        ++i;
        continue;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (IsWs(c)) {
          return fail("obs-fold in trailer section");
        } else if (InClass(c, kTok)) {
          state_ = State::kTrailerName;
        } else {
          return fail("invalid trailer field name");
        }
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailerValue;
        } else if (!InClass(c, kTok)) {
          return fail("invalid trailer field name");
        }
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!InClass(c, kVal)) {
          return fail("control character in trailer field");
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail("trailer line not ended by CRLF");
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail("chunked body not ended by CRLF");
        state_ = State::kDone;
        step.consumed = i + 1;
        step.done = true;
        return step;
      case State::kDone:
      case State::kError: break;  // handled before the loop
    }
    // Every byte outside data and the final LF counts against a line limit.
    if (state_ == State::kSize || state_ == State::kSizeWs || state_ == State::kExt) {
      if (++line_bytes_ > kMaxSizeLine) return fail("chunk size line too long");
    } else if (state_ >= State::kTrailerStart) {
      if (++trailer_bytes_ > kMaxTrailerBytes) return fail("trailer section too big");
    }
    ++i;
  }
  step.consumed = n;
  return step;
}

}  // namespace skyport::router::http1
