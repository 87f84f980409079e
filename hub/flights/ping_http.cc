// The hub's flight pings, over the one HTTP client (core/http_client.h).
#include "hub/flights/ping_http.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http_client.h"

namespace skyport::hub {
namespace {

struct Url {
  std::string host, port = "80", target = "/";
};

std::optional<Url> ParseHttpUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return std::nullopt;
  std::string rest = url.substr(scheme.size());
  Url u;
  size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.target = rest[slash] == '/' ? rest.substr(slash) : "/" + rest.substr(slash);
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  if (authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      u.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty() || u.port.empty() || u.port.size() > 5 ||
      u.port.find_first_not_of("0123456789") != std::string::npos || std::stoul(u.port) > 65535)
    return std::nullopt;
  return u;
}

}  // namespace

PingResult HttpPing(const std::string& method, const std::string& url, const std::string& body, int64_t timeout_ms) {
  PingResult out;
  auto u = ParseHttpUrl(url);
  if (!u) {
    out.error = fmt::format("url: \"{}\" is not an http://HOST[:PORT]/PATH URL", url);
    return out;
  }
  HttpCall call;
  call.host = u->host;
  call.port = static_cast<uint32_t>(std::stoul(u->port));
  call.method = method == "POST" ? "POST" : "GET";
  call.target = u->target;
  call.version = "HTTP/1.1";
  call.host_header = HostHeader(u->host, call.port, 80);
  call.headers = {{"User-Agent", "skyport-hub (flight ping)"}, {"Connection", "close"}};
  if (method == "POST") {
    bool json = !nlohmann::json::parse(body, nullptr, false).is_discarded();
    call.headers.emplace_back("Content-Type", json ? "application/json" : "text/plain; charset=utf-8");
    call.body = body;
  }
  // Only the status code matters: the answer is read up to its status line.
  const int timeout = static_cast<int>(std::clamp<int64_t>(timeout_ms, 0, INT32_MAX));
  HttpOutcome got = RunHttpExchange(call, HttpUntil::kStatusLine, timeout);
  if (got.failure) {
    out.error = got.failure->Message(timeout);
    return out;
  }
  out.status_code = ParseHttpStatus(got.received);
  return out;
}

}  // namespace skyport::hub
