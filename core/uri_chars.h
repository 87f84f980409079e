// RFC 3986 character classes, shared by the path normaliser (core/uri_path)
// and the router's Host and absolute-form checks (router/uri). Inline: both
// run per request.
#pragma once

namespace skyport::uri {

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// ALPHA DIGIT - . _ ~ (RFC 3986 2.3).
inline bool IsUnreserved(char c) { return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
// 0..15 for a hex digit of either case, else -1.
inline int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace skyport::uri
