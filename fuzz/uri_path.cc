// libFuzzer target: request-target path normalisation (core/uri_path.h
// NormalizePath, ValidatePathPrefix), what the router routes on and forwards.
// The first byte's low bit is `unescape_slashes`. A path that is not refused
// normalises to a path that:
//   - is its own normal form (normalising it again changes nothing);
//   - has no "." or ".." segment (so it can never climb above a route's
//     prefix at the upstream), no '\', and with slashes refused no %2F/%5C;
//   - stays under the root: starts with '/' when the input did;
//   - is never longer than the input, and has only valid %-escapes.
// A route prefix that validates is in normal form already.
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/uri_path.h"
#include "fuzz/check.h"

namespace uri = skyport::uri;

namespace {

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

void CheckNormal(std::string_view p, std::string_view input) {
  CHECK(p.size() <= input.size());
  if (input.empty() || input[0] != '/') {
    CHECK(p == input);  // not a path: left alone
    return;
  }
  CHECK(!p.empty() && p[0] == '/');
  CHECK(p.find('\\') == std::string_view::npos);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '%') continue;
    CHECK(i + 2 < p.size() && IsHex(p[i + 1]) && IsHex(p[i + 2]));
    CHECK(!(p[i + 1] == '0' && p[i + 2] == '0'));
    CHECK(!std::islower(static_cast<unsigned char>(p[i + 1])) && !std::islower(static_cast<unsigned char>(p[i + 2])));
    // Refused or unescaped, never kept: a kept %2F or %5C would be routed as one segment.
    const std::string esc{p[i + 1], p[i + 2]};
    CHECK(esc != "2F" && esc != "5C");
  }
  // Segments between slashes (the query is not part of the input).
  size_t start = 1;
  for (;;) {
    const size_t end = p.find('/', start);
    const std::string_view seg = p.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    CHECK(seg != "." && seg != "..");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool unescape_slashes = data[0] & 1;
  const std::string_view path(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string out = "stale";  // must not leak into a kSame answer
  const uri::PathResult r = uri::NormalizePath(path, unescape_slashes, out);
  if (r.verdict == uri::PathVerdict::kRefused) {
    CHECK(r.reason != nullptr && r.reason[0] != '\0');
  } else {
    const std::string normal = r.verdict == uri::PathVerdict::kSame ? std::string(path) : out;
    if (r.verdict == uri::PathVerdict::kRewritten) CHECK(normal != path);
    CheckNormal(normal, path);
    // Idempotent, and the normal form of a path is normal with either setting.
    for (bool unescape : {false, true}) {
      std::string again;
      const uri::PathResult r2 = uri::NormalizePath(normal, unescape, again);
      CHECK(r2.verdict == uri::PathVerdict::kSame);
    }
  }
  if (uri::ValidatePathPrefix("prefix", path).ok()) {
    std::string again;
    CHECK(uri::NormalizePath(path, false, again).verdict == uri::PathVerdict::kSame);
    CHECK(path.size() <= uri::kMaxPathPrefix && !path.empty() && path[0] == '/');
  }
  return 0;
}
