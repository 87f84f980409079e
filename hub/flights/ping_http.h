// A flight plan's "ping": one HTTP/1.1 request to a plain http:// URL with a
// deadline, through the one HTTP client (core/http_client.h).
#pragma once

#include <cstdint>
#include <string>

#include "hub/flights/tower.h"

namespace skyport::hub {

// GET or POST (body as application/json when it parses as JSON, else
// text/plain). The status code of the answer (read up to its status line),
// or an error ("connect: …", "read: timed out after 5000 ms", "url: …").
// Redirects are not followed.
PingResult HttpPing(const std::string& method, const std::string& url, const std::string& body, int64_t timeout_ms);

}  // namespace skyport::hub
