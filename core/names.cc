#include "core/names.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/problems.h"

namespace skyport {
namespace {

bool LowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool Alnum(char c) { return LowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

Status Invalid(std::string_view field, std::string_view value, std::string_view rule) {
  return Status::InvalidArgument(fmt::format("{}: \"{}\" {}", field, ClipEcho(value, 128), rule));
}

}  // namespace

bool IsOsName(std::string_view s) { return std::find(std::begin(kOsNames), std::end(kOsNames), s) != std::end(kOsNames); }

bool IsArmName(std::string_view s) {
  if (s.empty() || s.size() > 32 || !LowerAlnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return LowerAlnum(c) || c == '_' || c == '-'; });
}

bool IsLanguageTag(std::string_view s) {
  size_t i = 0, n = 0;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i, ++n;
  if (n < 2 || n > 8) return false;
  while (i < s.size()) {
    if (s[i++] != '-') return false;
    for (n = 0; i < s.size() && Alnum(s[i]); ++i) ++n;
    if (n < 1 || n > 8) return false;
  }
  return true;
}

bool IsHttpToken(std::string_view s) {
  static constexpr std::string_view kSpecial = "!#$%&'*+-.^_`|~";
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return Alnum(c) || kSpecial.find(c) != std::string_view::npos; });
}

bool IsRangeKey(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return Alnum(c) || c == '_' || c == '-'; });
}

bool IsHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Status ValidateName(std::string_view field, std::string_view v) {
  static constexpr std::string_view kRule = "must match [a-z0-9][a-z0-9-]{0,62}";
  if (v.empty() || v.size() > 63 || !LowerAlnum(v[0])) return Invalid(field, v, kRule);
  for (char c : v)
    if (!LowerAlnum(c) && c != '-') return Invalid(field, v, kRule);
  return Status::Ok();
}

Status ValidateCommit(std::string_view field, std::string_view v) {
  if (v.size() < 4 || v.size() > 64 || !IsHex(v))
    return Invalid(field, v, "must be a commit hash: 4 to 64 lowercase hex characters");
  return Status::Ok();
}

Status ValidateCommitPrefix(std::string_view field, std::string_view v) {
  if (v.empty() || v.size() > 64 || !IsHex(v))
    return Invalid(field, v, "must be a commit prefix: 1 to 64 lowercase hex characters");
  return Status::Ok();
}

Status ValidateHost(std::string_view field, std::string_view v) {
  static constexpr std::string_view kRule = "must be a host name or IP address";
  if (v.empty() || v.size() > 253 || v[0] == '-' || v[0] == '.') return Invalid(field, v, kRule);
  for (char c : v)
    if (!Alnum(c) && c != '.' && c != '-' && c != ':') return Invalid(field, v, kRule);
  return Status::Ok();
}

Status ValidateDroneName(std::string_view field, std::string_view v) {
  static constexpr std::string_view kRule = "must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}";
  if (v.empty()) return Status::Ok();
  if (v.size() > 63 || !Alnum(v[0])) return Invalid(field, v, kRule);
  for (char c : v)
    if (!Alnum(c) && c != '.' && c != '_' && c != '-') return Invalid(field, v, kRule);
  return Status::Ok();
}

Status ValidatePort(std::string_view field, int64_t value) {
  if (value < 1 || value > 65535)
    return Status::InvalidArgument(fmt::format("{}: {} is out of range 1..65535", field, value));
  return Status::Ok();
}

}  // namespace skyport
