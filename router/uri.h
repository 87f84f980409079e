// Request-target paths and Host values, as the router routes and forwards
// them. Pure functions: no sockets, no allocation unless a path has to be
// rewritten (then into the caller's string, whose capacity is reused).
//
// Paths: NormalizePath and its rules live in core/uri_path.h (route configs
// are validated against the same normal form); named here for the router.
//
// Hosts (ValidHost): host [":" port], where host is a reg-name of ALPHA DIGIT
// "-" "." "_" "~" (no empty labels) or an IPv6 literal "[...]", and port is
// 1..5 digits up to 65535. Anything else (userinfo "@", "/", spaces, percent-
// encodings, sub-delims) is not a Host the router accepts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/uri_path.h"

namespace skyport::router::uri {

using skyport::uri::NormalizePath;
using skyport::uri::PathResult;
using skyport::uri::PathVerdict;

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
