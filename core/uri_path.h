// Request-target paths in the one normal form the router routes and forwards
// and route configs must be written in (registry validation, router static
// routes). Pure functions: no sockets, no allocation unless a path has to be
// rewritten (then into the caller's string, whose capacity is reused).
//
// NormalizePath, in the spirit of Envoy's `normalize_path` with
// `path_with_escaped_slashes_action` REJECT_REQUEST (or UNESCAPE_AND_FORWARD):
//   1. percent-encodings are checked: '%' must be followed by two hex digits
//      and %00 is refused; encoded unreserved characters (ALPHA DIGIT - . _ ~)
//      are decoded, every other encoding is kept with uppercase hex
//      (RFC 3986 6.2.2.1, 6.2.2.2);
//   2. %2F and %5C (encoded '/' and '\') and a raw '\' (not a URI character,
//      RFC 3986 2; some servers read it as '/'): refused, or with
//      `unescape_slashes` all three become '/', so that "/shop/..%2fadmin" or
//      "/shop\..\admin" can never be routed to /shop/ while an upstream that
//      decodes slashes (or reads '\' as '/') serves /admin;
//   3. a "." or ".." segment followed by ';' (after step 1: "%2e%2e;" too) is
//      refused: Tomcat/Jetty/Spring strip ";params" and would resolve
//      "/shop/..;/admin" to /admin while the router routes it to /shop/;
//   4. dot segments are removed (RFC 3986 5.2.4): "/shop/../admin" is "/admin",
//      "/a/." is "/a/", ".." above the root stays at the root.
// Empty segments ("//") stay. The router matches path prefixes against the
// result and forwards the result, so router and upstream see one path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace skyport::uri {

enum class PathVerdict : uint8_t {
  kSame,       // already normal: use the path as sent (`out` untouched)
  kRewritten,  // `out` holds the normal form, which differs
  kRefused,    // 400; `reason` says why
};

struct PathResult {
  PathVerdict verdict = PathVerdict::kSame;
  const char* reason = "";  // static text, for kRefused
};

// `path`: the path of a request-target, without the query. Paths that do not
// start with '/' ("*", CONNECT's "") are kSame.
PathResult NormalizePath(std::string_view path, bool unescape_slashes, std::string& out);

// Longest path prefix a route config may name.
inline constexpr size_t kMaxPathPrefix = 256;

// A route's path prefix (registry RouteConfig.path_prefixes, router static
// routes): starts with '/', at most kMaxPathPrefix bytes, printable, no '?'
// or '#' (prefixes match the path alone), no empty segment ("//"), and in the
// normal form of NormalizePath with slashes refused: what it would refuse
// (%2F, %5C, '\', bad or %00 encodings) or rewrite ("." and ".." segments,
// encoded unreserved characters, lowercase hex) can never match as written.
// OK or INVALID_ARGUMENT whose message starts with `field`.
Status ValidatePathPrefix(std::string_view field, std::string_view prefix);

}  // namespace skyport::uri
