// The address lists of `--registry` and `--hub`: several interchangeable
// registries, or several hubs of which one leads, named as
// "HOST:PORT,HOST:PORT,…" (one address is a list of one, as before lists).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport {

// More would be a misconfiguration: a control plane has 3 or 5 machines.
inline constexpr size_t kMaxAddresses = 16;
// An address is a host name or IP and a port; DNS names are at most 253.
inline constexpr size_t kMaxAddressChars = 261;

// Checks one "HOST:PORT": HOST a DNS name or IPv4 literal (letters, digits,
// '.', '-', '_') or a bracketed IPv6 literal ("[::1]:6000"), PORT 1..65535.
// INVALID_ARGUMENT naming `what` ("--registry") and the address otherwise.
Status ValidateAddress(std::string_view what, std::string_view address);

// Splits `text` at commas, trims spaces around each address and checks it
// (ValidateAddress). INVALID_ARGUMENT for an empty list or element ("a:1,,b:2",
// a trailing comma), a duplicate, or more than kMaxAddresses. The order is
// kept: it is the order in which clients first try them.
Result<std::vector<std::string>> ParseAddressList(std::string_view what, std::string_view text);

// "a:1,b:2": the list as the flags spell it (logs, errors).
std::string JoinAddresses(const std::vector<std::string>& addresses);

}  // namespace skyport
