// Internal to the HTTP/1 parsers: the walk over a head's field lines, shared
// by ParseRequest and ParseResponse (router/http1.cc).
#pragma once

#include <cstddef>
#include <string_view>

#include "router/http1.h"
#include "router/http1_lex.h"

namespace skyport::router::http1::detail {

// What the walk over the field lines learned. Absent values keep a null
// data() so that "first field wins" needs no extra flags.
struct Fields {
  int host_count = 0;
  int cl_count = 0;
  bool cl_differs = false;
  bool te = false;
  bool te_last_chunked = false;
  bool te_other = false;      // a coding other than chunked
  bool te_bad = false;        // malformed element, or chunked applied twice
  int te_chunked = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool conn_named = false;    // Connection names other fields
  bool conn_bad = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  int underscores = 0;        // request field names with '_'
  int forwarding = 0;         // request fields of kClientForwarding (dropped)
  int xff_lines = 0;          // X-Forwarded-For field lines
  std::string_view host, cl_value, upgrade, xff, xrid, commit;
};

// A field name with '_' that CGI/WSGI would read as a name the router owns
// or frames with ("Transfer_Encoding" is HTTP_TRANSFER_ENCODING there).
bool FoldsIntoKnown(std::string_view name);

// Parses field lines from `pos` through the empty line, in one pass: the name
// is scanned as a token up to its colon, the value with ScanClass up to the
// CR, which must be followed by LF. Statuses are the request ones (400/431);
// ParseResponse maps every error to 502.
Parse WalkFields(std::string_view buf, size_t pos, size_t max_head_bytes, bool request, HeaderField* hs,
                 int& count, Fields& f, size_t& head_len, ParseError& err);

// Second pass, only when Connection names fields: mark them hop-by-hop. A
// Connection header can never strip framing or routing (Content-Length,
// Transfer-Encoding, Host): dropping those while forwarding the body is a
// desync.
void MarkConnectionNamed(HeaderField* hs, int count);

}  // namespace skyport::router::http1::detail
