// Internal to the HTTP/1 parsers (router/http1.h): byte classes, word-at-a-
// time scanning, list walking and the field names the router knows. Shared by
// http1.cc (start lines, heads) and http1_fields.cc (field lines); everything
// is inline so that the hot loops stay as they were in one file.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "router/http1.h"

namespace skyport::router::http1::detail {

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
inline constexpr std::array<uint8_t, 256> kClass = MakeClasses();

inline bool InClass(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool IsWs(char c) { return c == ' ' || c == '\t'; }

inline bool AllOf(std::string_view s, uint8_t cls) {
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

inline std::string_view TrimWs(std::string_view s) {
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
inline bool ParseLength(std::string_view s, uint64_t& out) {
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
inline bool HasBlankLine(std::string_view buf) {
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
inline Known Classify(std::string_view n) {
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

}  // namespace skyport::router::http1::detail
