// Writing the heads the router sends on: the request head it forwards and the
// response head it relays. Pure: appends to a string, reads the caller's buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/ids.h"
#include "router/http1.h"

namespace skyport::router {

// A request id the router passes on: printable, short.
bool UsableRequestId(std::string_view id);

// Appends the field lines of a head that are not hop-by-hop, as they were
// sent, in as few appends as runs allow. `from` is where the first field starts.
void AppendEndToEnd(std::string& out, const char* base, size_t from, const http1::HeaderField* fields, int count);

// Appends `v` as 16 lowercase hex digits.
void AppendHex(std::string& out, uint64_t v);

// What the router writes into a forwarded request head besides the client's fields.
struct ForwardedFields {
  std::string_view peer;         // the client's address, last in X-Forwarded-For
  std::string_view proto;        // X-Forwarded-Proto
  std::string_view user_id;      // X-Skyport-User
  std::string_view flight_name;  // X-Skyport-Flight, sent when in_flight
  bool path_rewritten = false;   // r.path is the normalised path, not the target's own
  bool in_flight = false;
};

// Appends the head the upstream gets for request `r` (parsed from `base`):
// the request line as sent (origin-form with the routed path when the path
// was normalised or the target is absolute-form), the end-to-end fields as
// sent, framing of our own (Content-Length or chunked, never the client's
// bytes), then X-Forwarded-For (the client's list joined, then the peer),
// X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id (the client's when
// usable, else 32 hex digits from `rng`), X-Skyport-User, X-Skyport-Flight,
// and the Connection field an upgrade or an HTTP/1.0 request needs.
void AppendForwardedHead(std::string& out, const char* base, const http1::RequestHead& r, const ForwardedFields& x,
                         Random& rng);

// What the router writes into a relayed response head.
struct RelayedFields {
  bool request_was_head = false;  // HEAD: the length or coding its GET would have had is kept
  int client_minor = 1;           // the client's HTTP/1.x: 1.0 gets no chunked coding, keep-alive said
  std::string_view commit;        // X-Skyport-Commit
  std::string_view instance;      // X-Skyport-Instance
  std::string_view set_cookie;    // a Set-Cookie value, "" for none
  bool close = false;             // the client connection closes after this answer
};

// Appends the head the client gets for upstream response `h` (parsed from
// `base`): status line and end-to-end fields as sent, framing of our own,
// X-Skyport-Commit, X-Skyport-Instance, Set-Cookie, and Connection (upgrade
// for a 101, close, or keep-alive for an HTTP/1.0 client).
void AppendRelayedHead(std::string& out, const char* base, const http1::ResponseHead& h, const RelayedFields& x);

}  // namespace skyport::router
