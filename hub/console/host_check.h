// Which Host names the console answers (DNS rebinding, hub/console/API.md).
// A page on evil.example whose name is re-pointed at 127.0.0.1 talks to the
// console as its own origin: "Origin: http://evil.example:6004" equals
// "Host: evil.example:6004", so the CSRF/Origin check passes, and the
// operator's browser can guess tokens at the login (filling the address's
// login limit: the operator's logins and Bearer scripts then get 429). A
// rebinding always names the attacker's domain in Host, so the console
// answers only IP literals, localhost (and *.localhost) and the names the
// operator lists (--console-hosts: the name a TLS proxy in front serves).
// Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skyport::hub::console {

// The name of a Host header value ("Name.example.:6004" -> "name.example",
// "[::1]:6004" -> "::1"), lower case, without a trailing dot; nullopt when
// malformed (empty name, a bad port, an unclosed '[').
std::optional<std::string> HostName(std::string_view host);

// True when the console answers a request with this Host header: none (an
// HTTP/1.0 client: browsers always send one), an IP literal, localhost or
// *.localhost, or a name in `console_hosts` (names, any case; ports are not
// compared). A malformed Host is refused.
bool HostAllowed(std::string_view host, const std::vector<std::string>& console_hosts);

// True when `origin` ("https://console.example.com[:port]") names a host in
// `console_hosts`: a TLS proxy may pass the console its own address as Host,
// so the browser's Origin is then compared with the listed names.
bool OriginListed(std::string_view origin, const std::vector<std::string>& console_hosts);

}  // namespace skyport::hub::console
