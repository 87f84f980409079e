// AdminGet: the blocking client of AdminServer (see http_admin.h), over the
// one HTTP client (core/http_client.h), in its own words.
#include <fmt/format.h>

#include "core/http_admin.h"
#include "core/http_client.h"

namespace skyport {

Result<AdminResponse> AdminGet(const std::string& address, const std::string& path_and_query,
                               const std::string& token, int timeout_ms) {
  if (path_and_query.empty() || path_and_query.front() != '/' ||
      path_and_query.find_first_of(" \r\n") != std::string::npos)
    return Status::InvalidArgument(fmt::format("path \"{}\": must start with / and hold no spaces", path_and_query));
  if (token.find_first_of("\r\n") != std::string::npos)
    return Status::InvalidArgument("token: must not hold line breaks");
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();

  HttpCall call;
  call.host = hp->first;
  call.port = static_cast<uint32_t>(hp->second);
  call.target = path_and_query;
  call.host_header = address;
  if (!token.empty()) call.headers.emplace_back("Authorization", "Bearer " + token);
  HttpOutcome got = RunHttpExchange(call, HttpUntil::kEnd, timeout_ms, kMaxHttpResponse);
  if (got.failure) {
    const HttpFailure& f = *got.failure;
    using Kind = HttpFailure::Kind;
    if (f.kind == Kind::kTooLarge)
      return Status::ResourceExhausted(fmt::format("{}: response larger than {}", address, f.detail));
    if (f.stage == HttpStage::kResolve || f.stage == HttpStage::kConnect) {
      const std::string why =
          f.kind == Kind::kTimeout ? fmt::format("no connection within {} ms", timeout_ms) : f.detail;
      return Status::Unavailable(fmt::format("cannot connect to {}: {}", address, why));
    }
    if (f.kind == Kind::kTimeout)
      return Status::Unavailable(fmt::format("{}: no answer within {} ms", address, timeout_ms));
    return Status::Unavailable(
        fmt::format("{}: {}: {}", address, f.stage == HttpStage::kSend ? "send" : "recv", f.detail));
  }
  auto resp = ParseHttpResponse(got.received);
  if (!resp.ok()) return Status::Unavailable(fmt::format("{}: {}", address, resp.status().message()));
  return AdminResponse{resp->status, std::move(resp->content_type), std::move(resp->body)};
}

}  // namespace skyport
