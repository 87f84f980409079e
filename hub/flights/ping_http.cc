// The hub's only HTTP client (Beast, slow to compile: kept to this file).
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange in C++20

#include "hub/flights/ping_http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

namespace skyport::hub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

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
      u.port.find_first_not_of("0123456789") != std::string::npos)
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
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buf;
  http::request<http::string_body> req{method == "POST" ? http::verb::post : http::verb::get, u->target, 11};
  req.set(http::field::host, u->port == "80" ? u->host : u->host + ":" + u->port);
  req.set(http::field::user_agent, "skyport-hub (flight ping)");
  req.set(http::field::connection, "close");
  if (method == "POST") {
    bool json = !nlohmann::json::parse(body, nullptr, false).is_discarded();
    req.set(http::field::content_type, json ? "application/json" : "text/plain; charset=utf-8");
    req.body() = body;
    req.prepare_payload();
  }
  http::response<http::string_body> resp;
  std::string stage = "resolve";
  beast::error_code failure;
  auto fail = [&](const char* what, beast::error_code ec) {
    stage = what;
    failure = ec;
  };
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  resolver.async_resolve(u->host, u->port, [&](beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return fail("resolve", ec);
    stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return fail("connect", ec);
      http::async_write(stream, req, [&](beast::error_code ec, size_t) {
        if (ec) return fail("send", ec);
        http::async_read(stream, buf, resp, [&](beast::error_code ec, size_t) {
          if (ec) return fail("read", ec);
          stage = "done";
        });
      });
    });
  });
  ioc.run_for(std::chrono::milliseconds(timeout_ms + 100));
  if (stage == "done") {
    out.status_code = static_cast<int>(resp.result_int());
    return out;
  }
  if (!failure || failure == beast::error::timeout || failure == asio::error::operation_aborted)
    out.error = fmt::format("{}: timed out after {} ms", stage, timeout_ms);
  else
    out.error = fmt::format("{}: {}", stage, failure.message());
  return out;
}

}  // namespace skyport::hub
