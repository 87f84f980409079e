#include "cli/errors.h"

#include <fmt/format.h>

namespace skyport::cli {

std::string FormatRpcError(std::string_view what, const Status& s, std::string_view registry) {
  std::string out = fmt::format("skyport: {}: {}: {}", what, CodeName(s.code()), s.message());
  switch (s.code()) {
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
      out += fmt::format(
          "\nskyport: hint: is skyport-registry running at {}? (--registry / SKYPORT_REGISTRY)",
          registry);
      break;
    case Code::kUnauthenticated:
      out += "\nskyport: hint: check --token-file / SKYPORT_TOKEN";
      break;
    default:
      break;
  }
  return out;
}

}  // namespace skyport::cli
