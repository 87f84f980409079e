// Writing the heads the router sends on: the request head it forwards and the
// response head it relays. Pure: appends to a string, reads the caller's buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "router/http1.h"

namespace skyport::router {

// A request id the router passes on: printable, short.
bool UsableRequestId(std::string_view id);

// Appends the field lines of a head that are not hop-by-hop, as they were
// sent, in as few appends as runs allow. `from` is where the first field starts.
void AppendEndToEnd(std::string& out, const char* base, size_t from, const http1::HeaderField* fields, int count);

// Appends `v` as 16 lowercase hex digits.
void AppendHex(std::string& out, uint64_t v);

}  // namespace skyport::router
