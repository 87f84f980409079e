// Request-target paths and Host values, as the router routes and forwards
// them. Pure functions: no sockets, no allocation unless a path has to be
// rewritten (then into the caller's string, whose capacity is reused).
//
// Paths (NormalizePath), in the spirit of Envoy's `normalize_path` with
// `path_with_escaped_slashes_action` REJECT_REQUEST (or UNESCAPE_AND_FORWARD):
//   1. percent-encodings are checked: '%' must be followed by two hex digits
//      and %00 is refused; encoded unreserved characters (ALPHA DIGIT - . _ ~)
//      are decoded, every other encoding is kept with uppercase hex
//      (RFC 3986 6.2.2.1, 6.2.2.2);
//   2. %2F and %5C (encoded '/' and '\'): refused, or with `unescape_slashes`
//      decoded like the rest, so that "/shop/..%2fadmin" can never be routed
//      to /shop/ while an upstream that decodes slashes serves /admin;
//   3. dot segments are removed (RFC 3986 5.2.4): "/shop/../admin" is "/admin",
//      "/a/." is "/a/", ".." above the root stays at the root.
// Empty segments ("//") stay. The router matches path prefixes against the
// result and forwards the result, so router and upstream see one path.
//
// Hosts (ValidHost): host [":" port], where host is a reg-name of ALPHA DIGIT
// "-" "." "_" "~" (no empty labels) or an IPv6 literal "[...]", and port is
// 1..5 digits up to 65535. Anything else (userinfo "@", "/", spaces, percent-
// encodings, sub-delims) is not a Host the router accepts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skyport::router::uri {

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

// A Host field value (or an absolute-form authority); "" is valid (RFC 9112
// 3.2: the Host of a target without authority is empty).
bool ValidHost(std::string_view host);

// For an absolute-form request-target "scheme://authority[/path][?query]":
// its scheme and authority. False if `target` is not of that form.
bool SplitAbsolute(std::string_view target, std::string_view& scheme, std::string_view& authority);

// Whether an absolute-form target's authority and the Host field name the
// same origin: both valid hosts, the scheme http or https, names equal
// ignoring ASCII case and a trailing '.', ports equal with the scheme's
// default for a missing one ("a:80" and "a" agree under http).
bool SameAuthority(std::string_view scheme, std::string_view authority, std::string_view host);

}  // namespace skyport::router::uri
