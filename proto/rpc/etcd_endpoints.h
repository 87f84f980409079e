// etcd endpoints and keys as Skyport reads them: pure parsing and checks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport::etcd {

struct Options;

// One member's client URL, checked.
struct Endpoint {
  std::string url;     // as configured, for messages and metrics
  std::string target;  // "host:port" / "[v6]:port" for gRPC (names resolve through DNS)
  bool tls = false;
};

inline constexpr size_t kMaxEndpoints = 32;
inline constexpr size_t kMaxHostLength = 253;

// "http://h:p", "https://h:p" or "h:p" (TLS then as `tls_default`); the
// port is required (1..65535), nothing may follow it but one "/".
Result<Endpoint> ParseEndpoint(std::string_view text, bool tls_default);

// Every endpoint of `o` (1..kMaxEndpoints, no duplicates), all over TLS or all
// plain: TLS when an endpoint says https or a TLS file is given; an http://
// endpoint beside TLS files is refused rather than silently sent in clear.
// Also checks the timeouts and that a user has a password and cert has key.
Result<std::vector<Endpoint>> CheckOptions(const Options& o);

// range_end for a prefix, by etcd's rule: the prefix with its last byte that
// is not 0xff incremented and what follows dropped; "\0" (every key from the
// prefix on) when the prefix is empty or all 0xff.
std::string PrefixEnd(std::string_view prefix);

// Skyport's key prefix (--etcd-prefix): non-empty, starts with '/', printable
// ASCII without spaces, at most 256 bytes.
Status ValidKeyPrefix(std::string_view prefix);

}  // namespace skyport::etcd
