// Client::Impl: connections, fail-over, the auth token and the counters.
#include <fmt/format.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/channel.h"
#include "rpc/etcd_client_impl.h"
#include "rpc/etcd_keepalive.h"

namespace skyport::etcd {

int64_t NowMs() { return MonoNowMs(); }

namespace {

Result<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const Options& o, bool tls) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;  // no CA file: the system's roots
  if (!o.ca_file.empty()) {
    auto ca = rpc::ReadPem("etcd-cacert", o.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = std::move(*ca);
  }
  if (!o.cert_file.empty()) {
    auto cert = rpc::ReadPem("etcd-cert", o.cert_file);
    if (!cert.ok()) return cert.status();
    auto key = rpc::ReadPem("etcd-key", o.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

Result<std::shared_ptr<Client::Impl>> Client::Impl::Create(Options o) {
  auto eps = CheckOptions(o);
  if (!eps.ok()) return eps.status();
  auto creds = Credentials(o, eps->front().tls);
  if (!creds.ok()) return creds.status();
  std::shared_ptr<Impl> impl(new Impl(std::move(o)));
  for (Endpoint& ep : *eps) {
    grpc::ChannelArguments args = rpc::ReconnectingChannelArguments();
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(impl->opts_.dial_timeout_ms));
    // A member that hangs (stopped, frozen VM) leaves streams open: pings find
    // it within 9 s. etcd refuses pings more often than every 5 s
    // (--grpc-keepalive-min-time) and pings on a connection without calls
    // (its enforcement policy), answering both with GOAWAY.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 6'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
    args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
    args.SetMaxSendMessageSize(kMaxSendBytes);
    // One channel (one connection) per member: never shared with another
    // endpoint's channel by gRPC's subchannel pool.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto c = std::make_unique<Conn>();
    c->channel = grpc::CreateCustomChannel(ep.target, *creds, args);
    c->kv = etcdserverpb::KV::NewStub(c->channel);
    c->lease = etcdserverpb::Lease::NewStub(c->channel);
    c->watch = etcdserverpb::Watch::NewStub(c->channel);
    c->auth = etcdserverpb::Auth::NewStub(c->channel);
    c->ep = std::move(ep);
    impl->conns_.push_back(std::move(c));
  }
  impl->keepalive_ = std::make_unique<KeepAliveMux>(impl.get());
  return impl;
}

Client::Impl::Impl(Options o) : opts_(std::move(o)) {}
Client::Impl::~Impl() = default;

void Client::Impl::Shutdown() { keepalive_->Shutdown(); }

void Client::Impl::FailOver(size_t i, std::string_view op, std::string_view why) {
  if (conns_.size() < 2) return;
  size_t expected = i;
  size_t next = (i + 1) % conns_.size();
  if (!current_.compare_exchange_strong(expected, next)) return;  // someone moved on already
  failovers_.fetch_add(1);
  uint64_t suppressed = 0;
  {
    std::lock_guard lock(mu_);
    // Every member down means a fail-over per attempt: one line per 10 s.
    if (!failover_log_.Allow(NowMs(), &suppressed)) return;
  }
  log::Warn("etcd endpoint failed, trying the next one",
            {{"op", op}, {"endpoint", conns_[i]->ep.url}, {"next", conns_[next]->ep.url}, {"error", why},
             {"failovers_not_logged", suppressed}});
}

void Client::Impl::Answered(size_t i) { answered_.store(i); }

std::string Client::Impl::Where(std::string_view op, size_t i) const {
  return fmt::format("etcd {} via {}: ", op, conns_[i]->ep.url);
}

bool Client::Impl::HasToken() const {
  std::lock_guard lock(mu_);
  return !token_.empty();
}

void Client::Impl::Prepare(grpc::ClientContext& ctx, int64_t deadline_mono_ms) const {
  if (deadline_mono_ms > 0)
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_mono_ms - NowMs()));
  // etcd's rpctypes.MetadataRequireLeaderKey: refuse at once without a leader.
  ctx.AddMetadata("hasleader", "true");
  std::lock_guard lock(mu_);
  if (!token_.empty()) ctx.AddMetadata("token", token_);
}

void Client::Impl::RenewToken(size_t i, bool drop_current, std::function<void(Status)> then) {
  {
    std::lock_guard lock(mu_);
    if (drop_current) token_.clear();
    waiters_.push_back(std::move(then));
    if (renewing_) return;
    renewing_ = true;
  }
  struct Call {
    grpc::ClientContext ctx;
    etcdserverpb::AuthenticateRequest req;
    etcdserverpb::AuthenticateResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(opts_.request_timeout_ms));
  call->req.set_name(opts_.user);
  call->req.set_password(opts_.password);
  auto self = shared_from_this();
  conns_[i]->auth->async()->Authenticate(&call->ctx, &call->req, &call->resp, [self, call, i](grpc::Status st) {
    Status result;
    std::vector<std::function<void(Status)>> waiters;
    uint64_t suppressed = 0;
    bool log_it = false;
    {
      std::lock_guard lock(self->mu_);
      if (st.ok() && !call->resp.token().empty()) {
        self->token_ = call->resp.token();
      } else {
        // etcd's messages carry neither the password nor a token.
        result = st.ok() ? Status::Unauthenticated("etcd answered Authenticate without a token")
                         : Status(static_cast<Code>(st.error_code()), st.error_message());
      }
      self->renewing_ = false;
      waiters.swap(self->waiters_);
      log_it = !result.ok() && self->auth_log_.Allow(NowMs(), &suppressed);
    }
    self->CountRequest("Authenticate", result.code());
    if (log_it)
      log::Warn("etcd authentication failed", {{"endpoint", self->conns_[i]->ep.url},
                                               {"user", self->opts_.user},
                                               {"error", result.message()},
                                               {"failures_not_logged", suppressed}});
    for (auto& w : waiters) w(result);
  });
}

double Client::Impl::Uniform() {
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

void Client::Impl::CountRequest(std::string_view op, Code result) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(op), result == Code::kOk ? "ok" : CodeName(result)}];
}

void Client::Impl::CountRetry(std::string_view op) {
  std::lock_guard lock(mu_);
  ++retries_[std::string(op)];
}

void Client::Impl::CountOversized(std::string_view op, std::string_view message) {
  oversized_.fetch_add(1);
  uint64_t suppressed = 0;
  {
    std::lock_guard lock(mu_);
    if (!oversized_log_.Allow(NowMs(), &suppressed)) return;
  }
  log::Warn("etcd message over the size limit", {{"op", op}, {"error", message}, {"not_logged", suppressed}});
}

void Client::Impl::WriteMetrics(PromText& out) const {
  std::lock_guard lock(mu_);
  out.Family("skyport_etcd_requests_total", PromType::kCounter, "etcd calls finished, by op and result");
  for (const auto& [k, n] : requests_)
    out.Sample("skyport_etcd_requests_total", {{"op", k.first}, {"result", k.second}}, n);
  out.Family("skyport_etcd_retries_total", PromType::kCounter, "etcd call attempts sent again, by op");
  for (const auto& [op, n] : retries_) out.Sample("skyport_etcd_retries_total", {{"op", op}}, n);
  out.Counter("skyport_etcd_failovers_total", "Moves to the next etcd endpoint after a failure", failovers_.load());
  out.Counter("skyport_etcd_watch_resumes_total", "etcd watches resumed after their stream broke",
              watch_resumes_.load());
  out.Counter("skyport_etcd_oversized_total", "etcd messages refused for their size (send 2 MiB, receive 64 MiB)",
              oversized_.load());
  out.Family("skyport_etcd_current_endpoint", PromType::kGauge, "1 for the etcd endpoint in use");
  size_t cur = current_.load();
  for (size_t i = 0; i < conns_.size(); ++i)
    out.Sample("skyport_etcd_current_endpoint", {{"endpoint", conns_[i]->ep.url}}, i == cur ? 1 : 0);
}

}  // namespace skyport::etcd
