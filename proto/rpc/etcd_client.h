// A client of etcd's v3 gRPC API (etcd 3.4) for Skyport's control plane.
//
// What it promises:
// - Several endpoints, one in use at a time ("current"). A transport failure
//   or an endpoint that cannot serve (no leader, stopping) moves the client
//   to the next endpoint (a fail-over, counted); channels reconnect by
//   themselves with a bounded backoff. Host names and IP literals both work.
// - Every call has a deadline (Options::request_timeout_ms from the call).
// - Reads (Range), keep-alives and lease time-to-live are retried, on the
//   next endpoint when the current one failed, until the deadline. etcd's
//   transient answers ("leader changed", "no leader", "too many requests",
//   "request timed out") are retried with backoff (etcd_retry.h decides).
// - Writes (Put, Txn, DeleteRange, LeaseGrant, LeaseRevoke) are retried only
//   when the request provably never reached etcd (no connection to pick, or
//   etcd rejected it before proposing it). Otherwise the caller gets
//   Code::kUnavailable saying the outcome is unknown: the write may or may
//   not have been applied, so the caller must read back (or use a Txn that
//   is safe to repeat).
// - With Options::user set, the client authenticates and sends the token in
//   the "token" metadata; a token etcd calls invalid is renewed once per call.
//   Neither the password nor the token ever appears in a message or a log.
// - Error messages name the op and the endpoint ("etcd Put via
//   http://10.0.0.1:2379: ...").
// - Answers larger than kMaxReceiveBytes are refused (counted); requests over
//   kMaxSendBytes fail before they are sent.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/prom_text.h"
#include "core/status.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "rpc/etcd_endpoints.h"

namespace skyport::etcd {

// etcd's own request limit is 1.5 MiB (--max-request-bytes) plus 512 KiB of
// gRPC overhead: nothing larger would be accepted, so fail before sending.
inline constexpr int kMaxSendBytes = 2 * 1024 * 1024;
// etcd sends answers of any size (its send limit is 2 GiB): a Range over a
// large prefix can exceed the request limit by far. 64 MiB bounds one
// answer's memory while leaving room for 100,000 registry keys in one read;
// larger reads must page (RangeRequest::limit).
inline constexpr int kMaxReceiveBytes = 64 * 1024 * 1024;

struct Options {
  std::vector<std::string> endpoints;       // "http://h:p", "https://h:p" or "h:p"; at least one
  std::string ca_file, cert_file, key_file;  // TLS (https endpoints / any of these set)
  std::string user, password;                // etcd auth; never logged
  int64_t dial_timeout_ms = 2000, request_timeout_ms = 5000;
};

template <class T>
using Done = std::function<void(Result<T>)>;

class Client {  // thread-safe; callbacks run on gRPC threads and must not block
 public:
  // Checks the options (etcd_endpoints.h) and reads the TLS files; does not
  // connect (the first call does), so a daemon may start before etcd.
  static Result<std::shared_ptr<Client>> Create(Options o);
  ~Client();

  void Range(etcdserverpb::RangeRequest, Done<etcdserverpb::RangeResponse>);
  void Put(etcdserverpb::PutRequest, Done<etcdserverpb::PutResponse>);
  void DeleteRange(etcdserverpb::DeleteRangeRequest, Done<etcdserverpb::DeleteRangeResponse>);
  void Txn(etcdserverpb::TxnRequest, Done<etcdserverpb::TxnResponse>);
  void LeaseGrant(etcdserverpb::LeaseGrantRequest, Done<etcdserverpb::LeaseGrantResponse>);
  void LeaseRevoke(etcdserverpb::LeaseRevokeRequest, Done<etcdserverpb::LeaseRevokeResponse>);
  void LeaseTimeToLive(etcdserverpb::LeaseTimeToLiveRequest, Done<etcdserverpb::LeaseTimeToLiveResponse>);
  void LeaseLeases(etcdserverpb::LeaseLeasesRequest, Done<etcdserverpb::LeaseLeasesResponse>);
  // One keep-alive round trip over a shared LeaseKeepAlive stream (answers
  // matched by lease id); a lease etcd no longer has (TTL <= 0 in the
  // answer) -> Code::kNotFound.
  void LeaseKeepAlive(int64_t lease_id, Done<etcdserverpb::LeaseKeepAliveResponse>);

  // Blocking forms for tools and tests (never call them on a gRPC callback thread).
  Result<etcdserverpb::RangeResponse> RangeSync(etcdserverpb::RangeRequest);
  Result<etcdserverpb::PutResponse> PutSync(etcdserverpb::PutRequest);
  Result<etcdserverpb::DeleteRangeResponse> DeleteRangeSync(etcdserverpb::DeleteRangeRequest);
  Result<etcdserverpb::TxnResponse> TxnSync(etcdserverpb::TxnRequest);
  Result<etcdserverpb::LeaseGrantResponse> LeaseGrantSync(etcdserverpb::LeaseGrantRequest);
  Result<etcdserverpb::LeaseRevokeResponse> LeaseRevokeSync(etcdserverpb::LeaseRevokeRequest);
  Result<etcdserverpb::LeaseTimeToLiveResponse> LeaseTimeToLiveSync(etcdserverpb::LeaseTimeToLiveRequest);
  Result<etcdserverpb::LeaseLeasesResponse> LeaseLeasesSync(etcdserverpb::LeaseLeasesRequest);
  Result<etcdserverpb::LeaseKeepAliveResponse> LeaseKeepAliveSync(int64_t lease_id);

  // The endpoint that answered last (for logs and --json), as configured.
  std::string current_endpoint() const;

  // Families skyport_etcd_requests_total{op,result}, skyport_etcd_failovers_total,
  // skyport_etcd_retries_total{op}, skyport_etcd_current_endpoint{endpoint},
  // skyport_etcd_watch_resumes_total, skyport_etcd_oversized_total.
  void WriteMetrics(PromText& out) const;

  class Impl;  // etcd_client_impl.h: shared with the watch and keep-alive streams
  const std::shared_ptr<Impl>& impl() const { return impl_; }

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

struct WatchSpec {
  std::string key, range_end;
  int64_t start_revision = 0;  // 0: from now
  bool prev_kv = false;
  bool progress_notify = false;
};

struct WatchUpdate {  // one of: events (with the header revision), compacted, or a final error
  int64_t revision = 0;
  std::vector<mvccpb::Event> events;
  int64_t compact_revision = 0;  // > 0: start_revision was compacted away; the watch has ended, take a snapshot
  Status error;                  // !ok(): the watch has ended for good (cancelled by etcd, auth lost, client closed)
};

// A watch that resumes by itself (from the last revision seen + 1, on another
// endpoint if need be) when its stream or endpoint breaks; only compaction or
// a final error end it (ABORTED when etcd answers from a revision behind the
// one the watch has seen: restored from a snapshot, or a lagging member). Events are delivered once each, in revision order.
// Destroying it cancels: after the destructor returns, on_update is not
// called again (so never destroy a Watch from inside its own on_update).
class Watch {
 public:
  virtual ~Watch() = default;
};
std::unique_ptr<Watch> StartWatch(std::shared_ptr<Client>, WatchSpec, std::function<void(WatchUpdate)> on_update);

// PrefixEnd(prefix): range_end for a prefix (etcd_endpoints.h).

}  // namespace skyport::etcd
