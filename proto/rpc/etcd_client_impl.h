// The etcd client's shared state: connections, the current endpoint, the auth
// token, the timer and the counters. Internal to proto/rpc/etcd_*.cc: the
// unary calls (etcd_client.cc), the keep-alive stream (etcd_keepalive.cc) and
// the watches (etcd_watch.cc) all hold it by shared_ptr while they run.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "core/log_limiter.h"
#include "rpc/etcd_client.h"
#include "rpc/etcd_timer.h"

namespace skyport::etcd {

class KeepAliveMux;

class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  struct Conn {
    Endpoint ep;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Auth::Stub> auth;
  };

  static Result<std::shared_ptr<Impl>> Create(Options o);
  ~Impl();

  const Options& options() const { return opts_; }
  size_t size() const { return conns_.size(); }
  Conn& conn(size_t i) { return *conns_[i]; }
  size_t Current() const { return current_.load(); }
  // `i` failed for `why`: when it is still current, the next endpoint
  // becomes current (counted, logged).
  void FailOver(size_t i, std::string_view op, std::string_view why);
  // `i` answered: it is the one current_endpoint() names.
  void Answered(size_t i);
  std::string AnsweredUrl() const { return conns_[answered_.load()]->ep.url; }
  // "etcd Put via http://h:p: " for error messages.
  std::string Where(std::string_view op, size_t i) const;

  // Auth. Prepare sets the deadline, the token (when there is one) and
  // etcd's has-leader requirement (a member without a leader answers "no
  // leader" at once instead of waiting out the deadline).
  bool auth_enabled() const { return !opts_.user.empty(); }
  bool HasToken() const;
  void Prepare(grpc::ClientContext& ctx, int64_t deadline_mono_ms) const;
  // Authenticates through endpoint `i` (coalesced: one Authenticate at a time;
  // callers arriving meanwhile get its result). `stale` is dropped first.
  void RenewToken(size_t i, bool drop_current, std::function<void(Status)> then);

  void After(int64_t delay_ms, std::function<void()> task) { timer_.After(delay_ms, std::move(task)); }
  double Uniform();

  void CountRequest(std::string_view op, Code result);
  void CountRetry(std::string_view op);
  void CountResume() { watch_resumes_.fetch_add(1); }
  // An answer over kMaxReceiveBytes or a request over kMaxSendBytes.
  void CountOversized(std::string_view op, std::string_view message);
  void WriteMetrics(PromText& out) const;

  KeepAliveMux& keepalive() { return *keepalive_; }
  void Shutdown();

 private:
  explicit Impl(Options o);

  Options opts_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<size_t> current_{0};
  std::atomic<size_t> answered_{0};
  TimerThread timer_;
  std::unique_ptr<KeepAliveMux> keepalive_;

  mutable std::mutex mu_;
  std::string token_;                                  // guarded by mu_
  bool renewing_ = false;                              // guarded by mu_
  std::vector<std::function<void(Status)>> waiters_;  // guarded by mu_
  std::mt19937_64 rng_{std::random_device{}()};        // guarded by mu_
  std::map<std::pair<std::string, std::string>, uint64_t> requests_;  // guarded by mu_
  std::map<std::string, uint64_t> retries_;                           // guarded by mu_
  LogLimiter auth_log_;                                               // guarded by mu_
  LogLimiter failover_log_;                                           // guarded by mu_
  LogLimiter oversized_log_;                                          // guarded by mu_
  std::atomic<uint64_t> failovers_{0}, watch_resumes_{0}, oversized_{0};
};

// Milliseconds on the monotonic clock (core/clock.h MonoNowMs).
int64_t NowMs();

}  // namespace skyport::etcd
