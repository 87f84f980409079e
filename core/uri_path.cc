#include "core/uri_path.h"

#include <cstring>

#include <fmt/format.h>

#include "core/uri_chars.h"

namespace skyport::uri {
namespace {

// RFC 3986 5.2.4 over a path that starts with '/', in place.
void RemoveDotSegments(std::string& s) {
  char* d = s.data();
  const size_t n = s.size();
  size_t w = 0, i = 0;
  while (i < n) {  // d[i] == '/'
    size_t j = i + 1;
    while (j < n && d[j] != '/') ++j;
    const size_t len = j - i - 1;
    const bool last = j == n;
    if (len == 1 && d[i + 1] == '.') {
      if (last) d[w++] = '/';
    } else if (len == 2 && d[i + 1] == '.' && d[i + 2] == '.') {
      while (w > 0 && d[w - 1] != '/') --w;  // the last segment
      if (w > 0) --w;                        // and its '/'
      if (last) d[w++] = '/';
    } else {
      std::memmove(d + w, d + i, j - i);
      w += j - i;
    }
    i = j;
  }
  if (w == 0) d[w++] = '/';
  s.resize(w);
}

}  // namespace

PathResult NormalizePath(std::string_view path, bool unescape_slashes, std::string& out) {
  PathResult res;
  if (path.empty() || path.front() != '/') return res;
  // Most paths have none: nothing to decode, no '\', no segment that starts with '.'.
  if (std::memchr(path.data(), '%', path.size()) == nullptr &&
      std::memchr(path.data(), '\\', path.size()) == nullptr && path.find("/.") == std::string_view::npos)
    return res;
  static const char* kHexUpper = "0123456789ABCDEF";
  out.clear();
  out.reserve(path.size());
  const size_t n = path.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = path[i];
    if (c == '\\') {
      if (!unescape_slashes) {
        res.verdict = PathVerdict::kRefused;
        res.reason = "backslash in path";
        return res;
      }
      out.push_back('/');
      continue;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    const int hi = i + 2 < n ? HexValue(path[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(path[i + 2]) : -1;
    if (lo < 0) {
      res.verdict = PathVerdict::kRefused;
      res.reason = "invalid percent-encoding in path";
      return res;
    }
    const char v = static_cast<char>(hi * 16 + lo);
    if (v == 0) {
      res.verdict = PathVerdict::kRefused;
      res.reason = "NUL (%00) in path";
      return res;
    }
    if (v == '/' || v == '\\') {
      if (!unescape_slashes) {
        res.verdict = PathVerdict::kRefused;
        res.reason = "encoded slash (%2F or %5C) in path";
        return res;
      }
      out.push_back('/');  // '\' too: one path for router and every upstream
    } else if (IsUnreserved(v)) {
      out.push_back(v);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[hi]);
      out.push_back(kHexUpper[lo]);
    }
    i += 2;
  }
  // "/..;x/": Tomcat, Jetty and Spring drop ";x" from a segment and then see
  // "..": refuse rather than route on a path the upstream resolves elsewhere.
  for (size_t k = out.find("/."); k != std::string::npos; k = out.find("/.", k + 1)) {
    const size_t d = out.compare(k + 1, 2, "..") == 0 ? 2 : 1;
    if (k + 1 + d < out.size() && out[k + 1 + d] == ';') {
      res.verdict = PathVerdict::kRefused;
      res.reason = "dot segment with ;parameters in path";
      return res;
    }
  }
  RemoveDotSegments(out);
  res.verdict = std::string_view(out) == path ? PathVerdict::kSame : PathVerdict::kRewritten;
  return res;
}

Status ValidatePathPrefix(std::string_view field, std::string_view p) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("{}: \"{}\" {}", field, p, why));
  };
  if (p.empty() || p.front() != '/') return bad("must start with '/'");
  if (p.size() > kMaxPathPrefix)
    return Status::InvalidArgument(fmt::format("{}: longer than {} bytes", field, kMaxPathPrefix));
  for (char c : p)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("holds a space or control character");
  if (p.find_first_of("?#") != std::string_view::npos)
    return bad("holds '?' or '#': a prefix matches the path, without query or fragment");
  if (p.find("//") != std::string_view::npos) return bad("holds an empty segment (\"//\")");
  std::string normal;
  const PathResult r = NormalizePath(p, false, normal);
  if (r.verdict == PathVerdict::kRefused)
    return bad(fmt::format("is refused in request paths ({}), so it can never match", r.reason));
  if (r.verdict == PathVerdict::kRewritten)
    return bad(fmt::format("is not in normal form (requests are matched normalised: \"{}\"); write that", normal));
  return Status::Ok();
}

}  // namespace skyport::uri
