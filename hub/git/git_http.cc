// The only TU with Beast/Asio in the hub's git library (they are slow to compile).
// Each connection is one coroutine on the server's io_context (opts.threads).
// The libgit2 work of a push (indexing, delta resolution, fsck, ref updates)
// runs on a separate pool with one thread per allowed concurrent push, so a
// slow push never holds an io thread: other apps' pushes and info/refs are
// answered meanwhile, and pushes to one app serialize only on its write lock.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange in C++20

#include "hub/git/git_http.h"

#include <fcntl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/http_admin.h"
#include "core/clock.h"
#include "core/conn_admission.h"
#include "core/exclusive.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "core/prom_text.h"
#include "core/token.h"
#include "core/utf8.h"
#include "hub/accept_loop.h"
#include "hub/git/git_route.h"
#include "hub/git/gunzip.h"
#include "hub/git/log_throttle.h"
#include "hub/git/push_apply.h"
#include "hub/git/receive_pack.h"

namespace skyport::hub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::buffer_body>;
using Response = http::response<http::string_body>;

using Clock = std::chrono::steady_clock;
constexpr char kCloneRefused[] = "fetch/clone is not served; push only\n";


Response MakeResponse(http::status status, std::string body, const char* type = "text/plain; charset=utf-8") {
  Response res{status, 11};
  res.set(http::field::server, "skyport-hub");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-cache");
  res.body() = std::move(body);
  return res;
}

// The leader contract (proto/rpc/leader.h): 307 keeps the method and body, so git follows it; 503 without a leader.
Response StandbyResponse(std::string_view base, std::string_view target) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  Response res = base.empty() ? MakeResponse(http::status::service_unavailable, "this hub is a standby and no leader is known yet\n")
                              : MakeResponse(http::status::temporary_redirect, "this hub is a standby; the leader serves pushes\n");
  if (base.empty()) res.set(http::field::retry_after, "2");
  else res.set(http::field::location, std::string(base) + std::string(target));
  return res;
}

// Push counters for /metrics.
struct PushCounters {
  std::atomic<uint64_t> pushes{0};        // receive-pack POSTs answered (probes included)
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> busy{0};          // 503: too many at once
  std::atomic<uint64_t> client_busy{0};   // 429: too many at once from one client address
  std::atomic<uint64_t> standby{0};       // 307/503: this hub is a standby
  std::atomic<uint64_t> accept_errors{0};  // accept failed (EMFILE, ENFILE, ENOBUFS...): paused 100 ms
  std::atomic<uint64_t> fsck{0};
  std::atomic<uint64_t> refs{0};
  std::atomic<uint64_t> pack_size{0};
  std::atomic<uint64_t> objects{0};
  std::atomic<uint64_t> object_size{0};
  std::atomic<uint64_t> delta_depth{0};
  std::atomic<uint64_t> inflate_bytes{0};
  std::atomic<uint64_t> corrupt{0};       // other unpack errors
  // Connections and slow clients.
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> conn_refused_server{0};   // --git-max-connections
  std::atomic<uint64_t> conn_refused_client{0};   // --git-max-connections-per-client
  std::atomic<uint64_t> slow_header{0};           // --git-header-timeout
  std::atomic<uint64_t> slow_body_timeout{0};     // --git-body-timeout
  std::atomic<uint64_t> slow_min_rate{0};         // --git-min-rate
  // Deploy on push.
  std::atomic<uint64_t> deploys_on_push{0};
  std::atomic<uint64_t> deploys_on_push_failed{0};

  std::atomic<uint64_t>* ForCause(const std::string& cause) {
    if (cause == "fsck") return &fsck;
    if (cause == "refs") return &refs;
    if (cause == "pack_size") return &pack_size;
    if (cause == "objects") return &objects;
    if (cause == "object_size") return &object_size;
    if (cause == "delta_depth") return &delta_depth;
    if (cause == "inflate_bytes") return &inflate_bytes;
    return &corrupt;
  }
};

class Server final : public GitHttpServer {
 public:
  Server(RepoStore* repos, GitHttpOptions opts)
      : repos_(repos), opts_(std::move(opts)), acceptor_(ioc_),
        pool_(static_cast<size_t>(std::max(1, opts_.max_concurrent_pushes))) {}
  ~Server() override {
    stopping_ = true;  // a push indexing now gives up at its next progress report
    ioc_.stop();
    for (auto& t : threads_) t.join();
    pool_.join();  // push work still running refers to coroutine frames the io_context owns
  }
  int port() const override { return port_; }
  std::string Metrics() const override;

  Status Listen();
  void Run();

 private:
  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(beast::tcp_stream stream, std::string peer);
  // Produces the response for one request whose header is in `p`; may read the body.
  // *streamed: the handler wrote the response itself (and the connection ends).
  asio::awaitable<Response> Handle(beast::tcp_stream& stream, beast::flat_buffer& buf,
                                   http::request_parser<http::buffer_body>& p, const std::string& peer,
                                   bool* streamed);
  asio::awaitable<Response> ReceivePack(beast::tcp_stream& stream, beast::flat_buffer& buf,
                                        http::request_parser<http::buffer_body>& p, const std::string& app,
                                        const std::string& peer, bool* streamed);
  // Deploy on push: runs `deploy` on the pool while the push keeps its slot; with side-band-64k,
  // streams its progress (chunked) and then the report, else answers the report once it is done.
  asio::awaitable<Response> DeployAfterPush(beast::tcp_stream& stream, PushOutcome& outcome, PushDeploy deploy,
                                            bool* streamed);
  Response InfoRefs(const GitRoute& route);
  bool Authorized(const Request& req) const;
  // Runs fn() on the push pool and resumes the calling coroutine with its result.
  template <class R, class F>
  asio::awaitable<R> OnPool(F fn);
  void CountRefusal(const std::string& app, const PushOutcome& outcome);
  // Counts and logs (rate-limited) a client cut off for being slow.
  void CutSlow(const char* cause, const std::string& peer, const std::string& app, uint64_t bytes);
  // Connection admission per server and per client address; Release undoes an admitted one.
  bool Admit(const std::string& peer);
  void Release(const std::string& peer);
  // Push slot admission, per client address first, then for the server: nullptr when admitted
  // (ReleasePush undoes it), else the cause, "client_busy" or "busy".
  const char* AdmitPush(const std::string& peer);
  void ReleasePush(const std::string& peer);

  RepoStore* repos_;
  const GitHttpOptions opts_;
  // Before ioc_: coroutine frames still pending when it is destroyed release their connection here.
  mutable PushCounters counters_;
  ConnectionAdmission admission_{opts_.max_connections, opts_.max_connections_per_client};
  std::mutex conn_mu_;
  std::map<std::string, int> pushes_by_client_;  // GUARDED_BY(conn_mu_); only addresses with pushes in flight
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  asio::thread_pool pool_;  // libgit2 work of pushes: one thread per allowed concurrent push
  std::atomic<bool> stopping_{false};
  LogThrottle log_throttle_;
  int port_ = 0;
};

template <class R, class F>
asio::awaitable<R> Server::OnPool(F fn) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
      [this, ex, fn = std::move(fn)](auto handler) mutable {
        asio::post(pool_, [ex, fn = std::move(fn), handler = std::move(handler)]() mutable {
          R result = fn();
          asio::post(ex, [result = std::move(result), handler = std::move(handler)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      asio::use_awaitable);
}

std::string Server::Metrics() const {
  auto& c = counters_;
  PromText out;
  out.Counter("skyport_hub_git_pushes_total", "receive-pack requests answered.", c.pushes.load());
  out.Gauge("skyport_hub_git_pushes_in_flight", "receive-pack requests being processed.", c.in_flight.load());
  out.Counter("skyport_hub_git_pushes_busy_total",
              "Pushes answered 503 because --git-max-concurrent-pushes were running.", c.busy.load());
  out.Counter("skyport_hub_git_pushes_client_busy_total",
              "Pushes answered 429 because their client address had --git-max-pushes-per-client running.",
              c.client_busy.load());
  out.Counter("skyport_hub_git_standby_total",
              "git requests a standby hub answered 307 (to the leader) or 503 (no leader known).",
              c.standby.load());
  out.Counter("skyport_hub_git_accept_errors_total",
              "Failed accepts on the git listener (out of descriptors...), each followed by a 100 ms pause.",
              c.accept_errors.load());
  out.Family("skyport_hub_git_push_refused_total", PromType::kCounter,
             "Pushes refused whole, by cause (fsck, a bound, or a corrupt pack).");
  for (auto [cause, v] : {std::pair<const char*, uint64_t>{"fsck", c.fsck.load()}, {"refs", c.refs.load()},
                          {"pack_size", c.pack_size.load()}, {"objects", c.objects.load()},
                          {"object_size", c.object_size.load()}, {"delta_depth", c.delta_depth.load()},
                          {"inflate_bytes", c.inflate_bytes.load()},
                          {"corrupt", c.corrupt.load()}}) {
    out.Sample("skyport_hub_git_push_refused_total", {{"cause", cause}}, v);
  }
  out.Gauge("skyport_hub_git_connections_open", "Connections open to the git listener.", c.connections_open.load());
  out.Family("skyport_hub_git_connections_refused_total", PromType::kCounter,
             "Connections closed at accept: --git-max-connections (server) or --git-max-connections-per-client "
             "(client).");
  out.Sample("skyport_hub_git_connections_refused_total", {{"cause", "server"}}, c.conn_refused_server.load());
  out.Sample("skyport_hub_git_connections_refused_total", {{"cause", "client"}}, c.conn_refused_client.load());
  out.Family("skyport_hub_git_slow_clients_total", PromType::kCounter,
             "Requests cut off for being slow: header (--git-header-timeout), body_timeout (--git-body-timeout), "
             "min_rate (--git-min-rate).");
  out.Sample("skyport_hub_git_slow_clients_total", {{"cause", "header"}}, c.slow_header.load());
  out.Sample("skyport_hub_git_slow_clients_total", {{"cause", "body_timeout"}}, c.slow_body_timeout.load());
  out.Sample("skyport_hub_git_slow_clients_total", {{"cause", "min_rate"}}, c.slow_min_rate.load());
  out.Counter("skyport_hub_git_deploys_on_push_total",
              "Deploys started by a push (skyport apps set --deploy-on-push).", c.deploys_on_push.load());
  out.Counter("skyport_hub_git_deploys_on_push_failed_total",
              "Of them, deploys that failed (the push reported the ref as ng).", c.deploys_on_push_failed.load());
  return out.Take();
}

void Server::CountRefusal(const std::string& app, const PushOutcome& outcome) {
  if (outcome.unpack_error.empty()) return;
  const std::string cause = outcome.refused_by.empty() ? "corrupt" : outcome.refused_by;
  counters_.ForCause(cause)->fetch_add(1);
  int64_t suppressed = log_throttle_.Allow(cause, std::chrono::steady_clock::now());
  if (suppressed >= 0) {
    log::Warn("push refused", {{"app", app}, {"cause", cause}, {"error", outcome.unpack_error},
                               {"suppressed_since_last", suppressed}});
  }
}

void Server::CutSlow(const char* cause, const std::string& peer, const std::string& app, uint64_t bytes) {
  std::string c = cause;
  (c == "header" ? counters_.slow_header : c == "body_timeout" ? counters_.slow_body_timeout : counters_.slow_min_rate)
      .fetch_add(1);
  int64_t suppressed = log_throttle_.Allow("slow_" + c, Clock::now());
  if (suppressed >= 0) {
    log::Warn("git client cut off: too slow", {{"cause", c}, {"peer", peer}, {"app", app}, {"body_bytes", bytes},
                                               {"suppressed_since_last", suppressed}});
  }
}

bool Server::Admit(const std::string& peer) {
  const ConnectionAdmission::Verdict v = admission_.Admit(peer);
  counters_.connections_open.store(admission_.open());
  if (v == ConnectionAdmission::Verdict::kAdmitted) return true;
  const bool server = v == ConnectionAdmission::Verdict::kServerFull;
  const char* refused = server ? "server" : "client";
  (server ? counters_.conn_refused_server : counters_.conn_refused_client).fetch_add(1);
  int64_t suppressed = log_throttle_.Allow(std::string("conn_") + refused, Clock::now());
  if (suppressed >= 0) {
    log::Warn("git connection refused", {{"cause", refused}, {"peer", peer},
                                         {"limit", server ? opts_.max_connections : opts_.max_connections_per_client},
                                         {"suppressed_since_last", suppressed}});
  }
  return false;
}

void Server::Release(const std::string& peer) {
  admission_.Release(peer);
  counters_.connections_open.store(admission_.open());
}

const char* Server::AdmitPush(const std::string& peer) {
  std::lock_guard<std::mutex> l(conn_mu_);
  int& mine = pushes_by_client_[peer];
  const char* refused = nullptr;
  if (mine >= std::max(1, opts_.max_pushes_per_client)) {
    refused = "client_busy";
  } else if (counters_.in_flight.load() >= static_cast<uint64_t>(std::max(1, opts_.max_concurrent_pushes))) {
    refused = "busy";
  } else {
    ++mine;
    counters_.in_flight.fetch_add(1);
  }
  if (mine == 0) pushes_by_client_.erase(peer);
  return refused;
}

void Server::ReleasePush(const std::string& peer) {
  std::lock_guard<std::mutex> l(conn_mu_);
  auto it = pushes_by_client_.find(peer);
  if (it != pushes_by_client_.end() && --it->second <= 0) pushes_by_client_.erase(it);
  counters_.in_flight.fetch_sub(1);
}

Status Server::Listen() {
  auto hp = SplitHostPort(opts_.listen);
  if (!hp.ok()) return hp.status();
  // The address and its other-family twin (127.0.0.1 <-> [::1]) must be free, as for gRPC:
  // "localhost:P" reaching this hub or another program would be a split brain.
  if (Status probe = ProbeListen(opts_.listen); !probe.ok()) return probe;
  boost::system::error_code ec;
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(hp->first, std::to_string(hp->second), ec);
  if (ec || results.empty()) return Status::InvalidArgument(fmt::format("listen {}: {}", opts_.listen, ec.message()));
  tcp::endpoint ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ListenError(opts_.listen, ec.value());  // "address … is in use (another skyport-hub?)"
  SetCloexec(acceptor_.native_handle());  // children the hub spawns must not hold the port
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void Server::Run() {
  asio::co_spawn(ioc_, Accept(), asio::detached);
  for (int i = 0; i < std::max(1, opts_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
}

asio::awaitable<void> Server::Accept() {
  return AcceptLoop(
      acceptor_, "git http", counters_.accept_errors, [this](const std::string& peer) { return Admit(peer); },
      [this](tcp::socket sock, std::string peer) {
        asio::co_spawn(ioc_, Serve(beast::tcp_stream(std::move(sock)), std::move(peer)), asio::detached);
      });
}

asio::awaitable<void> Server::Serve(beast::tcp_stream stream, std::string peer) {
  struct Admitted {
    Server* s;
    const std::string& peer;
    ~Admitted() { s->Release(peer); }
  } admitted{this, peer};
  // Bounded: a header (64 KiB) or a chunk-size line that never ends is an error, not a growing buffer.
  beast::flat_buffer buf(256 * 1024);
  for (;;) {
    http::request_parser<http::buffer_body> p;
    p.body_limit(opts_.max_body_bytes);
    p.header_limit(64 * 1024);
    boost::system::error_code ec;
    if (buf.size() == 0) {  // keep-alive idle: wait for the first byte of the next request
      stream.expires_after(std::chrono::seconds(opts_.idle_timeout_s));
      size_t n = co_await stream.async_read_some(buf.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
      buf.commit(n);
      if (ec) break;
    }
    // The whole header within --git-header-timeout of its first byte (slowloris).
    stream.expires_after(std::chrono::seconds(opts_.header_timeout_s));
    co_await http::async_read_header(stream, buf, p, asio::redirect_error(asio::use_awaitable, ec));
    Response res;
    bool keep_alive = false;
    if (ec == beast::error::timeout) {
      CutSlow("header", peer, "", 0);
      break;
    } else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) {
      break;
    } else if (ec == http::error::body_limit) {  // Content-Length above the limit
      res = MakeResponse(http::status::payload_too_large, "push too large for this hub\n");
    } else if (ec) {
      res = MakeResponse(http::status::bad_request, "malformed HTTP request\n");
    } else {
      bool streamed = false;
      res = co_await Handle(stream, buf, p, peer, &streamed);
      if (streamed) break;  // written, chunked, to its end
      // A body we did not read would be parsed as the next request.
      keep_alive = p.get().keep_alive() && p.is_done() && res.keep_alive();
    }
    res.keep_alive(keep_alive);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

bool Server::Authorized(const Request& req) const {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return false;
  auto password = BasicAuthPassword(std::string_view(it->value().data(), it->value().size()));
  return password && ConstantTimeEquals(*password, opts_.token);
}

asio::awaitable<Response> Server::Handle(beast::tcp_stream& stream, beast::flat_buffer& buf,
                                         http::request_parser<http::buffer_body>& p, const std::string& peer,
                                         bool* streamed) {
  const Request& req = p.get();
  std::string_view target(req.target().data(), req.target().size());
  auto route = ParseGitTarget(target);
  if (!route.ok()) {
    bool not_found = route.status().code() == Code::kNotFound;
    co_return MakeResponse(not_found ? http::status::not_found : http::status::bad_request,
                           route.status().message() + "\n");
  }
  // Refusing fetch needs no credentials and says why, so `git clone` shows a clear message.
  bool upload = route->kind == GitRoute::Kind::kUploadPack ||
                (route->kind == GitRoute::Kind::kInfoRefs && route->service != "git-receive-pack");
  bool want_get = route->kind == GitRoute::Kind::kInfoRefs;
  if (req.method() != (want_get ? http::verb::get : http::verb::post)) {
    Response res = MakeResponse(http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, want_get ? "GET" : "POST");
    co_return res;
  }
  if (upload) co_return MakeResponse(http::status::forbidden, kCloneRefused);
  // Before the token check: git sends its credentials again only after a 401 from the host it
  // was redirected to (curl drops them across hosts), and retries a 401 only once.
  if (auto leader = opts_.standby_leader ? opts_.standby_leader() : std::nullopt) {
    counters_.standby.fetch_add(1);
    co_return StandbyResponse(*leader, target);
  }
  if (!Authorized(req)) {
    Response res = MakeResponse(http::status::unauthorized, "authentication required: use the cluster token as the password\n");
    res.set(http::field::www_authenticate, "Basic realm=\"skyport\"");
    co_return res;
  }
  if (route->kind == GitRoute::Kind::kInfoRefs) co_return InfoRefs(*route);
  co_return co_await ReceivePack(stream, buf, p, route->app, peer, streamed);
}

Response Server::InfoRefs(const GitRoute& route) {
  auto refs = ListRefs(repos_->RepoPath(route.app));
  if (!refs.ok()) {
    log::Error("git http: list refs", {{"app", route.app}, {"error", refs.status().message()}});
    return MakeResponse(http::status::internal_server_error, "cannot read repository\n");
  }
  return MakeResponse(http::status::ok, BuildAdvertisement(*refs), "application/x-git-receive-pack-advertisement");
}

asio::awaitable<Response> Server::ReceivePack(beast::tcp_stream& stream, beast::flat_buffer& buf,
                                              http::request_parser<http::buffer_body>& p, const std::string& app,
                                              const std::string& peer, bool* streamed) {
  // Admission: the pool has one thread per allowed push, so an admitted push never waits for another's
  // work; and one client address holds at most --git-max-pushes-per-client of the slots.
  if (const char* refused = AdmitPush(peer)) {
    const bool client = std::string_view(refused) == "client_busy";
    (client ? counters_.client_busy : counters_.busy).fetch_add(1);
    int64_t suppressed = log_throttle_.Allow(refused, std::chrono::steady_clock::now());
    if (suppressed >= 0) {
      log::Warn("push refused", {{"app", app}, {"cause", refused}, {"peer", peer},
                                 {"limit", client ? opts_.max_pushes_per_client : opts_.max_concurrent_pushes},
                                 {"suppressed_since_last", suppressed}});
    }
    Response res = client ? MakeResponse(http::status::too_many_requests,
                                         "too many pushes at once from your address; try again in a few seconds\n")
                          : MakeResponse(http::status::service_unavailable,
                                         "the hub is busy with other pushes; try again in a few seconds\n");
    res.set(http::field::retry_after, "5");
    co_return res;
  }
  struct InFlight {
    Server* s;
    const std::string& peer;
    ~InFlight() { s->ReleasePush(peer); }
  } in_flight{this, peer};
  counters_.pushes.fetch_add(1);

  std::optional<Gunzip> gunzip;
  std::string encoding(p.get()[http::field::content_encoding]);
  if (encoding == "gzip" || encoding == "x-gzip") {
    gunzip.emplace(opts_.max_body_bytes);
  } else if (!encoding.empty() && encoding != "identity") {
    co_return MakeResponse(http::status::unsupported_media_type, "unsupported Content-Encoding\n");
  }
  boost::system::error_code ec;
  if (beast::iequals(p.get()[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await http::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return MakeResponse(http::status::bad_request, "write failed\n");
  }

  PushSession session(repos_, app, opts_.allow_non_ff, opts_.limits);
  session.set_stop_flag(&stopping_);
  session.set_replicator(opts_.replicator);
  std::vector<char> chunk(64 * 1024);
  // The body: all of it within --git-body-timeout, and each window of --git-min-rate-window seconds must
  // carry --git-min-rate bytes/s (a window's bytes are counted up to the read that closes it; once a
  // window's quota is met, the next read may wait until the end of the following window, so the slowest
  // client kept averages at least half the rate). A read that hits its deadline closes the connection.
  const auto start = Clock::now();
  auto body_deadline = start + std::chrono::seconds(opts_.body_timeout_s);
  const auto window = std::chrono::seconds(std::max(1, opts_.min_rate_window_s));
  const uint64_t quota = opts_.min_rate * static_cast<uint64_t>(window.count());
  auto window_start = start;
  uint64_t window_bytes = 0, body_bytes = 0;
  auto too_slow = [&](const char* cause) {
    CutSlow(cause, peer, app, body_bytes);
    return MakeResponse(http::status::request_timeout, "request body too slow\n");
  };
  while (!p.is_done()) {
    p.get().body().data = chunk.data();
    p.get().body().size = chunk.size();
    auto until = body_deadline;
    if (opts_.min_rate > 0) until = std::min(until, window_start + (window_bytes >= quota ? 2 : 1) * window);
    auto now = Clock::now();
    if (until <= now) co_return too_slow(now >= body_deadline ? "body_timeout" : "min_rate");
    stream.expires_after(until - now);
    co_await http::async_read_some(stream, buf, p, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec == beast::error::timeout) co_return too_slow(Clock::now() >= body_deadline ? "body_timeout" : "min_rate");
    if (ec == http::error::body_limit) co_return MakeResponse(http::status::payload_too_large, "push too large for this hub\n");
    if (ec) co_return MakeResponse(http::status::bad_request, "malformed or truncated body\n");
    std::string_view data(chunk.data(), chunk.size() - p.get().body().size);
    body_bytes += data.size();
    window_bytes += data.size();
    now = Clock::now();
    if (opts_.min_rate > 0 && now - window_start >= window) {
      if (window_bytes < quota) co_return too_slow("min_rate");
      window_start = now;  // the next window starts here
      window_bytes = 0;
    }
    if (data.empty()) continue;
    // Gunzip too: 64 KiB of gzip can be 64 MiB of output, CPU the io threads must not spend.
    // Decoded output reaches the session in pieces of at most Gunzip::kMaxPiece bytes.
    Status fed = co_await OnPool<Status>([&session, &gunzip, data]() mutable {
      if (gunzip) return gunzip->Feed(data, [&session](std::string_view piece) { return session.Feed(piece); });
      return session.Feed(data);  // never RESOURCE_EXHAUSTED: pack bounds become the unpack status
    });
    // The hub's own work is not the client's slowness: the clocks of both bounds stop meanwhile.
    auto ours = Clock::now() - now;
    body_deadline += ours;
    window_start += ours;
    if (!fed.ok()) {
      co_return MakeResponse(fed.code() == Code::kResourceExhausted ? http::status::payload_too_large
                                                                     : http::status::bad_request,
                             fed.message() + "\n");
    }
  }
  if (gunzip) {
    if (Status s = gunzip->Finish(); !s.ok()) co_return MakeResponse(http::status::bad_request, s.message() + "\n");
  }
  auto outcome = co_await OnPool<Result<PushOutcome>>([&session] { return session.Finish(); });
  if (!outcome.ok()) co_return MakeResponse(http::status::bad_request, outcome.status().message() + "\n");
  CountRefusal(app, *outcome);
  if (!outcome->event.updates.empty() && opts_.on_push) opts_.on_push(outcome->event);
  if (opts_.deploy_on_push && outcome->unpack_error.empty() && !outcome->event.updates.empty()) {
    if (auto deploy = opts_.deploy_on_push(outcome->event))
      co_return co_await DeployAfterPush(stream, *outcome, std::move(*deploy), streamed);
  }
  co_return MakeResponse(http::status::ok, std::move(outcome->body), "application/x-git-receive-pack-result");
}

asio::awaitable<Response> Server::DeployAfterPush(beast::tcp_stream& stream, PushOutcome& outcome, PushDeploy deploy,
                                                  bool* streamed) {
  // What the deploy thread hands to this coroutine. Bounded: a deploy that says more than
  // kMaxQueued lines between two flushes loses the excess (counted, and said).
  struct Shared {
    std::mutex mu;
    std::vector<std::string> lines;  // GUARDED_BY(mu)
    uint64_t left_out = 0;           // GUARDED_BY(mu)
    bool done = false;               // GUARDED_BY(mu)
    Status result;                   // GUARDED_BY(mu)
  };
  constexpr size_t kMaxQueued = 1000;
  constexpr size_t kMaxLineBytes = 1000;
  auto shared = std::make_shared<Shared>();
  counters_.deploys_on_push.fetch_add(1);
  auto say = [shared](const std::string& line) {
    std::lock_guard<std::mutex> l(shared->mu);
    if (shared->lines.size() >= kMaxQueued) {
      ++shared->left_out;
      return;
    }
    std::string clean = CutUtf8(line, kMaxLineBytes);
    for (char& c : clean)
      if (c == '\n' || c == '\r') c = ' ';
    shared->lines.push_back(std::move(clean));
  };
  // The pool has a thread per push slot and this push holds one: the deploy never waits for a thread.
  asio::post(pool_, [shared, say, run = std::move(deploy.run), stopping = &stopping_]() {
    Status s = run(say, [stopping] { return stopping->load(); });
    std::lock_guard<std::mutex> l(shared->mu);
    shared->result = std::move(s);
    shared->done = true;
  });

  const bool sideband = outcome.request.Has("report-status") && outcome.request.Has("side-band-64k");
  boost::system::error_code ec;
  bool writable = sideband;
  http::response<http::empty_body> head{http::status::ok, 11};
  head.set(http::field::content_type, "application/x-git-receive-pack-result");
  head.set(http::field::cache_control, "no-cache");
  head.chunked(true);
  head.keep_alive(false);
  http::response_serializer<http::empty_body> head_writer{head};
  if (sideband) {
    *streamed = true;
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await http::async_write_header(stream, head_writer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) writable = false;
  }
  asio::steady_timer tick(co_await asio::this_coro::executor);
  Status result;
  for (;;) {
    std::vector<std::string> lines;
    uint64_t left_out = 0;
    bool done = false;
    {
      std::lock_guard<std::mutex> l(shared->mu);
      lines.swap(shared->lines);
      left_out = std::exchange(shared->left_out, 0);
      done = shared->done;
      if (done) result = shared->result;
    }
    if (writable && (!lines.empty() || left_out > 0)) {
      std::string chunk;
      for (const std::string& line : lines) chunk += ProgressBand(line);
      if (left_out > 0) chunk += ProgressBand(fmt::format("({} progress lines left out)", left_out));
      stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
      co_await asio::async_write(stream, http::make_chunk(asio::buffer(chunk)),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) writable = false;  // the client left: the deploy goes on, and the push keeps its slot until it ends
    }
    if (done) break;
    tick.expires_after(std::chrono::milliseconds(100));
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!result.ok()) {
    counters_.deploys_on_push_failed.fetch_add(1);
    std::string why = CutUtf8(result.message(), 300);
    for (char& c : why)
      if (c == '\n' || c == '\r') c = ' ';
    for (RefUpdate& u : outcome.event.updates)
      if (u.ref == deploy.ref && u.ok) {
        u.ok = false;
        u.error = "deploy failed: " + why + " (the ref is updated; the release is marked failed)";
      }
  }
  std::string report = BuildReport(outcome.request, "ok", outcome.event.updates, outcome.messages);
  if (!sideband) co_return MakeResponse(http::status::ok, std::move(report), "application/x-git-receive-pack-result");
  if (writable) {
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await asio::async_write(stream, http::make_chunk(asio::buffer(report)),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await asio::async_write(stream, http::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return Response{};
}

}  // namespace

Result<std::unique_ptr<GitHttpServer>> GitHttpServer::Start(RepoStore* repos, GitHttpOptions opts) {
  if (repos == nullptr) return Status::InvalidArgument("git http: no repo store");
  if (opts.token.empty()) return Status::InvalidArgument("git http: a token is required (pushes are never anonymous)");
  auto server = std::make_unique<Server>(repos, std::move(opts));
  if (Status s = server->Listen(); !s.ok()) return s;
  server->Run();
  log::Info("git http listening", {{"port", server->port()}});
  return std::unique_ptr<GitHttpServer>(std::move(server));
}

}  // namespace skyport::hub
