#include "router/uri.h"

#include "core/uri_chars.h"

namespace skyport::router::uri {
namespace {

using skyport::uri::HexValue;
using skyport::uri::IsDigit;
using skyport::uri::IsUnreserved;
inline char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// 1..5 digits, at most 65535.
bool ParsePort(std::string_view s, int& port) {
  if (s.empty() || s.size() > 5) return false;
  int v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  if (v > 65535) return false;
  port = v;
  return true;
}

// Splits a Host value into name and port (-1 when absent); false if invalid.
bool SplitHost(std::string_view h, std::string_view& name, int& port) {
  port = -1;
  std::string_view rest;
  if (!h.empty() && h.front() == '[') {
    size_t close = h.find(']');
    if (close == std::string_view::npos || close < 3) return false;  // "[::]" at least
    name = h.substr(1, close - 1);
    bool colon = false;
    for (char c : name) {
      if (c == ':') {
        colon = true;
      } else if (HexValue(c) < 0 && c != '.') {
        return false;
      }
    }
    if (!colon) return false;
    rest = h.substr(close + 1);
  } else {
    size_t colon = h.find(':');
    name = h.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : h.substr(colon);
    if (name.empty() || name.size() > 253 || name.front() == '.') return false;
    char prev = 0;
    for (char c : name) {
      if (!IsUnreserved(c) || (c == '.' && prev == '.')) return false;
      prev = c;
    }
  }
  if (rest.empty()) return true;
  return rest.front() == ':' && ParsePort(rest.substr(1), port);
}

bool EqualNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

}  // namespace

bool ValidHost(std::string_view host) {
  if (host.empty()) return true;
  std::string_view name;
  int port;
  return SplitHost(host, name, port);
}

bool SplitAbsolute(std::string_view target, std::string_view& scheme, std::string_view& authority) {
  size_t sep = target.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  scheme = target.substr(0, sep);
  size_t end = target.find_first_of("/?#", sep + 3);
  authority = target.substr(sep + 3, end == std::string_view::npos ? std::string_view::npos : end - sep - 3);
  return true;
}

bool SameAuthority(std::string_view scheme, std::string_view authority, std::string_view host) {
  int default_port;
  if (EqualNoCase(scheme, "http")) {
    default_port = 80;
  } else if (EqualNoCase(scheme, "https")) {
    default_port = 443;
  } else {
    return false;
  }
  std::string_view an, hn;
  int ap, hp;
  if (authority.empty() || host.empty() || !SplitHost(authority, an, ap) || !SplitHost(host, hn, hp)) return false;
  if (an.size() > 1 && an.back() == '.') an.remove_suffix(1);
  if (hn.size() > 1 && hn.back() == '.') hn.remove_suffix(1);
  return EqualNoCase(an, hn) && (ap < 0 ? default_port : ap) == (hp < 0 ? default_port : hp);
}

}  // namespace skyport::router::uri
