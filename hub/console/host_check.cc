#include "hub/console/host_check.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace skyport::hub::console {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A listed entry may carry a port ("console.example.com:443"): only its name is compared.
bool Listed(const std::string& name, const std::vector<std::string>& console_hosts) {
  return std::any_of(console_hosts.begin(), console_hosts.end(), [&name](const std::string& h) {
    auto want = HostName(h);
    return want && *want == name;
  });
}

bool IsIpLiteral(const std::string& name) {
  unsigned char b[16];
  return ::inet_pton(AF_INET, name.c_str(), b) == 1 || ::inet_pton(AF_INET6, name.c_str(), b) == 1;
}

}  // namespace

std::optional<std::string> HostName(std::string_view host) {
  while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
  while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
  std::string_view name = host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    if (host.find(':') != colon) return std::nullopt;  // a bare IPv6 address is not a Host
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::string out = Lower(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  if (out.empty() || out.size() > 253) return std::nullopt;
  for (char c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':'))
      return std::nullopt;
  return out;
}

bool HostAllowed(std::string_view host, const std::vector<std::string>& console_hosts) {
  if (host.find_first_not_of(" \t") == std::string_view::npos) return true;  // no Host: not a browser
  auto name = HostName(host);
  if (!name) return false;
  if (IsIpLiteral(*name)) return true;
  const std::string_view n = *name;
  constexpr std::string_view kLocal = "localhost";
  if (n == kLocal || (n.size() > kLocal.size() + 1 && n.substr(n.size() - kLocal.size() - 1) == ".localhost"))
    return true;
  return Listed(*name, console_hosts);
}

bool OriginListed(std::string_view origin, const std::vector<std::string>& console_hosts) {
  while (!origin.empty() && (origin.front() == ' ' || origin.front() == '\t')) origin.remove_prefix(1);
  while (!origin.empty() && (origin.back() == ' ' || origin.back() == '\t')) origin.remove_suffix(1);
  for (std::string_view scheme : {"https://", "http://"}) {
    if (origin.substr(0, scheme.size()) != scheme) continue;
    std::string_view rest = origin.substr(scheme.size());
    if (rest.find('/') != std::string_view::npos) return false;
    auto name = HostName(rest);
    return name && Listed(*name, console_hosts);
  }
  return false;
}

}  // namespace skyport::hub::console
