#include "rpc/etcd_retry.h"

namespace skyport::etcd {
namespace {

bool Has(std::string_view message, std::string_view part) { return message.find(part) != std::string_view::npos; }

}  // namespace

bool NeverSent(Code code, std::string_view m) {
  if (code != Code::kUnavailable) return false;
  // gRPC's pick failures (the channel's load balancer found no connection),
  // the equivalents of grpc-go's "there is no address available" and "there
  // is no connection available". A broken connection says "Socket closed",
  // "Connection reset", "GOAWAY" or "Broken pipe" instead: sent, maybe applied.
  return Has(m, "failed to connect to all addresses") || Has(m, "DNS resolution failed") ||
         Has(m, "empty address list") || Has(m, "there is no address available") ||
         Has(m, "there is no connection available") || Has(m, "Name resolution failure");
}

bool TransientEtcdError(Code code, std::string_view m) {
  if (code == Code::kResourceExhausted) return m == "etcdserver: too many requests";
  if (code != Code::kUnavailable) return false;
  return m == "etcdserver: leader changed" || m == "etcdserver: no leader" ||
         m.starts_with("etcdserver: request timed out") || m == "etcdserver: server stopped" ||
         m == "etcdserver: not capable";
}

bool StaleToken(Code code, std::string_view m) {
  return (code == Code::kUnauthenticated && m == "etcdserver: invalid auth token") ||
         (code == Code::kInvalidArgument &&
          (m == "etcdserver: revision of auth store is old" || m == "etcdserver: user name is empty"));
}

RetryDecision DecideRetry(OpKind kind, Code code, std::string_view m, bool token_renewed) {
  if (code == Code::kOk || code == Code::kCancelled) return {};
  if (StaleToken(code, m)) {
    // The token is checked before a request is proposed: nothing applied.
    if (token_renewed) return {};
    return {Next::kRenewToken, false, false};
  }
  if (NeverSent(code, m)) return {Next::kRetry, true, false};
  if (TransientEtcdError(code, m)) {
    // Rejected before being proposed: "too many requests" (apply lags
    // commit) and "no leader" (the has-leader check every call asks for).
    bool before_proposal = m == "etcdserver: too many requests" || m == "etcdserver: no leader";
    if (kind == OpKind::kWrite && !before_proposal) return {Next::kUnknownOutcome, true, false};
    // A member with no leader (or stopping) may be cut off: try another one.
    bool elsewhere = m != "etcdserver: too many requests";
    return {Next::kRetry, elsewhere, true};
  }
  if (code == Code::kUnavailable || code == Code::kDeadlineExceeded || code == Code::kUnknown) {
    // The connection broke or the attempt timed out after the request left:
    // etcd may have applied it.
    if (kind == OpKind::kWrite) return {Next::kUnknownOutcome, true, false};
    return {Next::kRetry, true, true};
  }
  return {};  // etcd's definite answer (compacted, not found, permission denied, ...)
}

std::string_view Hint(Code code, std::string_view m, bool has_credentials) {
  if (!has_credentials && StaleToken(code, m))
    return " (etcd has auth enabled: give --etcd-user and --etcd-password-file)";
  return "";
}

int64_t RetryDelayMs(const RetryDecision& d, int attempt, int endpoints, double u) {
  if (!d.backoff && d.fail_over && attempt < endpoints) return 0;
  return BackoffDelayMs(kEtcdRetryBackoff, attempt, u);
}

}  // namespace skyport::etcd
