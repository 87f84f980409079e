#include "rpc/etcd_endpoints.h"

#include <charconv>
#include <set>

#include "rpc/etcd_client.h"

namespace skyport::etcd {
namespace {

Status Bad(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("etcd endpoint \"" + std::string(text.substr(0, 300)) + "\": " + std::string(why));
}

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

}  // namespace

Result<Endpoint> ParseEndpoint(std::string_view text, bool tls_default) {
  Endpoint ep;
  ep.url = std::string(text);
  ep.tls = tls_default;
  std::string_view rest = text;
  if (rest.starts_with("http://")) {
    ep.tls = false;
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    ep.tls = true;
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return Bad(text, "the scheme must be http or https");
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  std::string_view host, port;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Bad(text, "unterminated [IPv6 literal]");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.starts_with(":")) return Bad(text, "a port is required (host:port)");
    port = after.substr(1);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return Bad(text, "not an IPv6 literal");
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return Bad(text, "a port is required (host:port)");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.empty()) return Bad(text, "the host is empty");
    if (host.size() > kMaxHostLength) return Bad(text, "the host is longer than 253 characters");
    for (char c : host)
      if (!HostChar(c)) return Bad(text, "the host may hold only letters, digits, '-', '_' and '.'");
  }
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535)
    return Bad(text, "the port must be a number within 1..65535 (and nothing may follow it)");
  ep.target = rest.starts_with("[") ? "[" + std::string(host) + "]:" + std::to_string(p)
                                    : std::string(host) + ":" + std::to_string(p);
  return ep;
}

Result<std::vector<Endpoint>> CheckOptions(const Options& o) {
  if (o.endpoints.empty()) return Status::InvalidArgument("etcd endpoints: at least one is required");
  if (o.endpoints.size() > kMaxEndpoints)
    return Status::InvalidArgument("etcd endpoints: at most " + std::to_string(kMaxEndpoints) + " are accepted");
  if (o.dial_timeout_ms < 100 || o.dial_timeout_ms > 600'000)
    return Status::InvalidArgument("etcd dial timeout: must be within 100 ms..600 s");
  if (o.request_timeout_ms < 100 || o.request_timeout_ms > 600'000)
    return Status::InvalidArgument("etcd request timeout: must be within 100 ms..600 s");
  if (o.cert_file.empty() != o.key_file.empty())
    return Status::InvalidArgument("etcd TLS: a client certificate and its key go together (--etcd-cert, --etcd-key)");
  if (!o.user.empty() && o.password.empty())
    return Status::InvalidArgument("etcd auth: user \"" + o.user + "\" needs a password (--etcd-password-file)");
  if (o.user.empty() && !o.password.empty())
    return Status::InvalidArgument("etcd auth: a password was given without a user (--etcd-user)");
  if (o.user.find(':') != std::string::npos || o.user.size() > 256)
    return Status::InvalidArgument("etcd auth: the user name must not hold ':' and be at most 256 bytes");
  bool tls_files = !o.ca_file.empty() || !o.cert_file.empty();
  std::vector<Endpoint> out;
  std::set<std::string> seen;
  for (const std::string& text : o.endpoints) {
    auto ep = ParseEndpoint(text, tls_files);
    if (!ep.ok()) return ep.status();
    if (tls_files && !ep->tls)
      return Bad(text, "http:// beside TLS files (--etcd-cacert/--etcd-cert): use https://");
    if (!seen.insert(ep->target).second) return Bad(text, "listed twice");
    out.push_back(std::move(*ep));
  }
  for (const Endpoint& ep : out)
    if (ep.tls != out.front().tls) return Bad(ep.url, "mixes https and http endpoints");
  return out;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

Status ValidKeyPrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::InvalidArgument("etcd prefix: must not be empty");
  if (prefix.front() != '/') return Status::InvalidArgument("etcd prefix: must start with '/'");
  if (prefix.size() > 256) return Status::InvalidArgument("etcd prefix: at most 256 bytes");
  for (char c : prefix)
    if (c <= ' ' || c > '~') return Status::InvalidArgument("etcd prefix: printable ASCII without spaces only");
  return Status::Ok();
}

}  // namespace skyport::etcd
