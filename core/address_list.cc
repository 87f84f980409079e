#include "core/address_list.h"

#include <fmt/format.h>

namespace skyport {
namespace {

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

bool IsV6Char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Quoted for messages; an attacker-sized value is cut.
std::string Shown(std::string_view s) {
  return fmt::format("\"{}\"", s.size() > 64 ? std::string(s.substr(0, 64)) + "…" : std::string(s));
}

}  // namespace

Status ValidateAddress(std::string_view what, std::string_view address) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("{}: address {} {}", what, Shown(address), why));
  };
  if (address.size() > kMaxAddressChars) return bad(fmt::format("is longer than {} characters", kMaxAddressChars));
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("has no port (expected HOST:PORT)");
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 4 || host.back() != ']') return bad("has a bad IPv6 literal (expected [ADDR]:PORT)");
    for (char c : host.substr(1, host.size() - 2))
      if (!IsV6Char(c)) return bad("has a bad IPv6 literal (expected [ADDR]:PORT)");
  } else {
    if (host.empty()) return bad("has no host (expected HOST:PORT)");
    for (char c : host)
      if (!IsHostChar(c)) return bad("has a bad host (IPv6 goes in brackets: [::1]:PORT)");
  }
  if (port.empty() || port.size() > 5) return bad("has a bad port (expected 1..65535)");
  int n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("has a bad port (expected 1..65535)");
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > 65535) return bad("has a bad port (expected 1..65535)");
  return Status::Ok();
}

Result<std::vector<std::string>> ParseAddressList(std::string_view what, std::string_view text) {
  if (Trim(text).empty()) return Status::InvalidArgument(fmt::format("{}: no address given (expected HOST:PORT,…)", what));
  std::vector<std::string> out;
  size_t item = 0;
  while (true) {
    ++item;
    size_t comma = text.find(',');
    std::string_view one = Trim(text.substr(0, comma));
    if (one.empty())
      return Status::InvalidArgument(fmt::format("{}: address {} of the list is empty (stray comma?)", what, item));
    if (out.size() == kMaxAddresses)
      return Status::InvalidArgument(fmt::format("{}: more than {} addresses", what, kMaxAddresses));
    if (Status s = ValidateAddress(what, one); !s.ok()) return s;
    for (const std::string& seen : out)
      if (seen == one) return Status::InvalidArgument(fmt::format("{}: address {} is listed twice", what, Shown(one)));
    out.emplace_back(one);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string JoinAddresses(const std::vector<std::string>& addresses) {
  std::string out;
  for (const std::string& a : addresses) {
    if (!out.empty()) out += ',';
    out += a;
  }
  return out;
}

}  // namespace skyport
