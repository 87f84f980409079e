#include "router/proxy.h"

#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/exclusive.h"
#include "core/http_admin.h"
#include "core/prom_text.h"
#include "router/worker.h"

namespace skyport::router {

// ---------------------------------------------------------------- Proxy

int MaxConnections(int flag) {
  if (flag > 0) return flag;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 10000;
  // Each client may hold an upstream connection as well; keep some fds for
  // the listeners, the admin server, the journal and the registry/hub links.
  const auto n = static_cast<int64_t>(rl.rlim_cur);
  return static_cast<int>(std::clamp<int64_t>((n - 256) / 2, 64, 1'000'000));
}

Result<std::unique_ptr<Proxy>> Proxy::Start(const ProxyOptions& options, RouteHolder* routes, StatsStore* stats,
                                            StatsShipper* shipper, EventJournal* journal) {
  auto hp = SplitHostPort(options.listen);
  if (!hp.ok()) return hp.status();
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, hp->first.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, hp->first.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof *v6;
  } else {
    return Status::InvalidArgument(fmt::format("listen \"{}\": host must be a numeric IP address", options.listen));
  }
  // Each thread gets its own SO_REUSEPORT listener (the kernel spreads
  // connections between them without a shared accept lock), but a group like
  // that would also take in a second router's sockets and share the clients
  // with it: a split brain. So first bind the address the ordinary way; a
  // router (or anything else) already listening there makes that fail.
  if (Status s = ProbeListen(options.listen); !s.ok()) return s;
  auto proxy = std::unique_ptr<Proxy>(new Proxy());
  int port = hp->second;
  std::vector<int> fds;
  for (int i = 0; i < threads; ++i) {
    if (ss.ss_family == AF_INET)
      v4->sin_port = htons(static_cast<uint16_t>(port));
    else
      v6->sin6_port = htons(static_cast<uint16_t>(port));
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 4096) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      for (int f : fds) ::close(f);
      return ListenError(options.listen, err);
    }
    if (port == 0) {
      sockaddr_storage got{};
      socklen_t gl = sizeof got;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
      port = got.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&got)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&got)->sin_port);
    }
    fds.push_back(fd);
  }
  proxy->port_ = port;
  proxy->counters_ = std::make_unique<ProxyCounters>();
  ProxyOptions wo = options;
  proxy->max_connections_ = MaxConnections(options.max_connections);
  // Each worker holds its share of the cap (the kernel spreads connections
  // over the SO_REUSEPORT listeners about evenly).
  wo.max_connections = (proxy->max_connections_ + threads - 1) / threads;
  wo.events_limiter = proxy->limiter_ = std::make_shared<EventRateLimiter>(options.events_rate);
  for (int fd : fds)
    proxy->workers_.push_back(std::make_unique<Worker>(wo, routes, stats, shipper, proxy->counters_.get(), fd,
                                                       shipper && journal ? journal->NewWriter() : nullptr));
  for (auto& w : proxy->workers_) proxy->threads_.emplace_back([wp = w.get()] { wp->Run(); });
  return proxy;
}

Proxy::~Proxy() { Stop(0); }

void Proxy::Stop(int drain_ms) {
  if (stopped_) return;
  stopped_ = true;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t deadline = (int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000) + drain_ms;
  for (auto& w : workers_) w->RequestStop(deadline);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  workers_.clear();
}

std::string Proxy::MetricsText() const {
  const ProxyCounters& c = *counters_;
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  PromText out;
  out.Counter("skyport_router_connections_accepted_total", "Client connections accepted.", v(c.accepted));
  out.Gauge("skyport_router_connections_open", "Client connections open now.", v(c.open_clients));
  out.Counter("skyport_router_http_requests_total", "Request heads parsed.", v(c.requests));
  out.Counter("skyport_router_upstream_connects_total", "New upstream connections started.", v(c.upstream_connects));
  out.Counter("skyport_router_upstream_connect_failures_total", "Upstream connections that failed.",
              v(c.connect_failures));
  out.Counter("skyport_router_retries_total", "Requests sent again to another connection or instance.", v(c.retries));
  out.Counter("skyport_router_retries_new_table_total",
              "Requests whose arm had no reachable instance, sent on in a newer route table.", v(c.table_moves));
  out.Counter("skyport_router_tunnels_total", "WebSocket (upgrade) tunnels opened.", v(c.tunnels));
  out.Gauge("skyport_router_upstream_idle", "Pooled idle upstream connections.", v(c.pooled_idle));
  out.Family("skyport_router_local_responses_total", PromType::kCounter,
             "Error responses the router made itself, by status.");
  for (int i = 0; i < kLocalErrorLabels; ++i)
    out.Sample("skyport_router_local_responses_total", {{"code", kLocalErrorCodes[i]}}, v(c.local_errors[i]));
  out.Family("skyport_router_cookies_rejected_total", PromType::kCounter,
             "User cookies refused (a new user id was issued), by reason.");
  static const char* kReasons[3] = {"malformed", "bad_signature", "unsigned"};
  for (int i = 0; i < 3; ++i)
    out.Sample("skyport_router_cookies_rejected_total", {{"reason", kReasons[i]}}, v(c.cookies_rejected[i]));
  out.Counter("skyport_router_cookies_migrated_total",
              "Unsigned legacy cookies accepted (migration window) and re-issued signed.", v(c.cookies_migrated));
  out.Counter("skyport_router_cookies_rotated_total",
              "Cookies signed with the previous secret, re-issued with the current one.", v(c.cookies_rotated));
  out.Counter("skyport_router_events_accepted_total", "Posted events recorded.", v(c.events_accepted));
  out.Counter("skyport_router_events_dropped_total",
              "Events, exposures and request counts not recorded (aggregator or journal full).", v(c.events_dropped));
  out.Counter("skyport_router_events_values_capped_total",
              "Events posted without the token whose |value| was capped to --events-max-value.",
              v(c.events_values_capped));
  out.Counter("skyport_router_exposures_limited_total",
              "Page views of new users over --new-users-address-rate: served without a new id or an exposure.",
              limiter_->exposures_limited());
  out.Family("skyport_router_upstream_not_reused_total", PromType::kCounter,
             "Upstream connections closed instead of reused, by reason.");
  out.Sample("skyport_router_upstream_not_reused_total", {{"reason", "request_body"}}, v(c.unpooled_body));
  out.Sample("skyport_router_upstream_not_reused_total", {{"reason", "unexpected_bytes"}}, v(c.unpooled_extra));
  out.Counter("skyport_router_upstream_invalid_responses_total",
              "Upstream response heads refused with 502 (ambiguous or malformed framing).", v(c.invalid_responses));
  out.Counter("skyport_router_underscore_headers_dropped_total", "Request header fields named with '_' not forwarded.",
              v(c.underscore_dropped));
  out.Counter("skyport_router_paths_normalized_total", "Request paths rewritten by normalisation (RFC 3986 6.2.2).",
              v(c.paths_rewritten));
  out.Counter("skyport_router_paths_refused_total",
              "Requests refused (400) for their path: encoded slash, backslash, bad or NUL percent-encoding.",
              v(c.paths_refused));
  out.Counter("skyport_router_forwarding_headers_dropped_total",
              "Client request fields only a proxy may set (Forwarded, X-Real-IP, X-Original-URL, X-Rewrite-URL, "
              "X-Forwarded-Port, X-Forwarded-Prefix) not forwarded.",
              v(c.forwarding_dropped));
  out.Counter("skyport_router_request_trailer_bytes_dropped_total",
              "Bytes of request trailer fields (chunked bodies) not forwarded.", v(c.trailer_bytes_dropped));
  out.Family("skyport_router_events_limited_total", PromType::kCounter,
             "Event posts refused 429 by a rate limit (--events-*-rate).");
  out.Sample("skyport_router_events_limited_total", {{"by", "user"}}, limiter_->limited(LimitedBy::kUser));
  out.Sample("skyport_router_events_limited_total", {{"by", "address"}}, limiter_->limited(LimitedBy::kAddress));
  out.Sample("skyport_router_events_limited_total", {{"by", "trusted"}}, limiter_->limited(LimitedBy::kTrusted));
  out.Counter("skyport_router_events_limiter_evictions_total", "Rate-limit buckets forgotten: the table was full.",
              limiter_->evictions());
  out.Counter("skyport_router_events_journal_full_total", "Event posts refused 503: the journal reached --data-max-mb.",
              v(c.events_journal_full));
  out.Counter("skyport_router_exposures_unjournaled_total",
              "New exposures not journaled (--data-max-mb reached): a kill -9 before the next seal loses them.",
              v(c.exposures_unjournaled));
  out.Counter("skyport_router_responses_dechunked_total",
              "Chunked upstream answers sent to HTTP/1.0 clients without the chunked coding, ended by closing the "
              "connection.",
              v(c.dechunked));
  out.Gauge("skyport_router_max_connections", "Client connections allowed open at once (--max-connections).",
            max_connections_);
  out.Counter("skyport_router_connections_shed_total", "Client connections closed or refused at --max-connections.",
              v(c.connections_shed));
  out.Family("skyport_router_accept_errors_total", PromType::kCounter,
             "accept() failures, by errno (EMFILE/ENFILE pause accepting).");
  out.Sample("skyport_router_accept_errors_total", {{"errno", "EMFILE"}}, v(c.accept_errors[0]));
  out.Sample("skyport_router_accept_errors_total", {{"errno", "ENFILE"}}, v(c.accept_errors[1]));
  out.Sample("skyport_router_accept_errors_total", {{"errno", "other"}}, v(c.accept_errors[2]));
  out.Counter("skyport_router_slow_bodies_total",
              "Exchanges cut: the request body did not arrive within --body-timeout-ms (or below --min-body-rate).",
              v(c.slow_bodies));
  out.Gauge("skyport_router_threads", "Proxy event-loop threads.", workers_.size());
  return out.Take();
}

}  // namespace skyport::router