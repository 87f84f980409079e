// The only TU of the console with Beast/Asio (slow to compile). Each
// connection is one coroutine on the server's io_context; data calls run on
// the worker pool (OnPool), so no I/O thread ever waits for the hub, the
// registry or a router.
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange in C++20

#include "hub/console/console_server.h"

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
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/conn_admission.h"
#include "core/http_admin.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/log_limiter.h"
#include "core/prom_text.h"
#include "core/token.h"
#include "hub/accept_loop.h"
#include "hub/console/assets.h"
#include "hub/console/host_check.h"

namespace skyport::hub::console {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Kind = Route::Kind;

// Scripts only from this origin (no inline script), nothing framed, nothing sent elsewhere.
constexpr char kCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";


template <class Message>
void SecurityHeaders(Message& m) {
  m.set(http::field::server, "skyport-hub");
  m.set("Content-Security-Policy", kCsp);
  m.set("X-Content-Type-Options", "nosniff");
  m.set("X-Frame-Options", "DENY");
  m.set("Referrer-Policy", "no-referrer");
  m.set("Cross-Origin-Opener-Policy", "same-origin");
  m.set("Cross-Origin-Resource-Policy", "same-origin");
}

Response Json(int status, const nlohmann::json& body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = body.dump() + "\n";
  return res;
}

Response JsonError(int status, const std::string& message) { return Json(status, nlohmann::json{{"error", message}}); }

Response Text(int status, std::string body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

std::string_view Header(const Request& req, http::field f) {
  auto it = req.find(f);
  if (it == req.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

std::optional<std::string_view> OptionalHeader(const Request& req, std::string_view name) {
  auto it = req.find(beast::string_view(name.data(), name.size()));
  if (it == req.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}

struct Counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> conn_refused_server{0};
  std::atomic<uint64_t> conn_refused_client{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> slow_header{0};
  std::atomic<uint64_t> slow_body{0};
  std::atomic<uint64_t> slow_write{0};
  std::atomic<uint64_t> header_too_large{0};
  std::atomic<uint64_t> body_too_large{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> method_refused{0};
  std::atomic<uint64_t> host_refused{0};
  std::atomic<uint64_t> logins{0};
  std::atomic<uint64_t> login_failed{0};
  std::atomic<uint64_t> login_limited{0};
  std::atomic<uint64_t> unauthorized{0};
  std::atomic<uint64_t> csrf_refused{0};
  std::atomic<uint64_t> busy{0};  // data calls refused: max_pending_calls
  std::atomic<uint64_t> calls_pending{0};
  std::atomic<uint64_t> sse_open{0};
  std::atomic<uint64_t> sse_refused{0};
  std::atomic<uint64_t> sse_slow{0};
  std::atomic<uint64_t> sse_events{0};
};

struct Auth {
  bool ok = false;
  bool bearer = false;
  bool limited = false;  // a wrong bearer token while the address is over its login limit
  std::string session;
  std::string csrf;
};

class Server final : public ConsoleServer {
 public:
  Server(ConsoleOptions opts, ConsoleData* data)
      : opts_(std::move(opts)), data_(data), sessions_(opts_.sessions), logins_(opts_.logins), acceptor_(ioc_),
        workers_(static_cast<size_t>(std::max(1, opts_.workers))) {}
  ~Server() override {
    stopping_ = true;
    ioc_.stop();
    for (auto& t : threads_) t.join();
    workers_.join();
  }
  int port() const override { return port_; }
  std::string Metrics() const override;

  Status Listen();
  void Run();

 private:
  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(beast::tcp_stream stream, std::string peer);
  asio::awaitable<void> Versions();
  asio::awaitable<Response> Handle(beast::tcp_stream& stream, const Request& req, const std::string& peer,
                                   bool* streamed);
  asio::awaitable<Response> Api(beast::tcp_stream& stream, const Request& req, Route& route,
                                const std::string& peer, bool* streamed);
  asio::awaitable<void> Events(beast::tcp_stream& stream, const Auth& auth, bool* streamed);
  Response Login(const Request& req, const std::string& peer);
  Response Logout(const Auth& auth);
  Response Static(const Request& req, const std::string& name, bool page);
  Auth Authenticate(const Request& req, const std::string& peer);
  // Runs job() (a data call) on the worker pool; 503 when max_pending_calls are in flight.
  // By reference to a caller's named local: GCC 12 destroys non-trivial temporaries of a
  // co_await expression twice (a lambda capturing a std::string crashed the hub here).
  asio::awaitable<Response> Call(const std::function<Reply()>& job);
  // The data call a data route makes; empty for other routes.
  std::function<Reply()> Job(const Route& route, const std::string& body, Response* bad);
  bool Admit(const std::string& peer);
  void Release(const std::string& peer);
  // True at most every 10 s per cause (bounds that bite under attack must not flood the log);
  // *held: the lines held back since the last one.
  bool ShouldLog(const std::string& cause, uint64_t* held);

  const ConsoleOptions opts_;
  ConsoleData* data_;
  mutable Counters counters_;
  mutable std::mutex mu_;
  SessionTable sessions_;                       // GUARDED_BY(mu_)
  LoginLimiter logins_;                         // GUARDED_BY(mu_)
  ConnectionAdmission admission_{opts_.max_connections, opts_.max_connections_per_client};
  std::map<std::string, LogLimiter> log_limits_;  // GUARDED_BY(mu_)
  std::atomic<uint64_t> version_{0};
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  asio::thread_pool workers_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

bool Server::ShouldLog(const std::string& cause, uint64_t* held) {
  std::lock_guard<std::mutex> l(mu_);
  return log_limits_[cause].Allow(MonoNowMs(), held);
}

asio::awaitable<Response> Server::Call(const std::function<Reply()>& job) {
  if (counters_.calls_pending.fetch_add(1) >= static_cast<uint64_t>(opts_.max_pending_calls)) {
    counters_.calls_pending.fetch_sub(1);
    counters_.busy.fetch_add(1);
    if (uint64_t held = 0; ShouldLog("busy", &held)) log::Warn("console: data calls at their bound; answered 503", {{"limit", opts_.max_pending_calls}, {"cause", "busy"}, {"suppressed_since_last", held}});
    Response res = JsonError(503, "the console is busy; try again in a moment");
    res.set(http::field::retry_after, "1");
    co_return res;
  }
  auto ex = co_await asio::this_coro::executor;
  // The initiation below is copied by value into Asio's coroutine machinery: it captures only
  // trivially destructible things (GCC 12 destroyed a captured std::function there twice).
  auto* work = new std::function<Reply()>(job);
  Reply reply = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Reply)>(
      [this, ex, work](auto handler) mutable {
        asio::post(workers_, [this, ex, work, handler = std::move(handler)]() mutable {
          std::unique_ptr<std::function<Reply()>> owned(work);
          Reply r = (*owned)();
          owned.reset();
          counters_.calls_pending.fetch_sub(1);
          asio::post(ex, [r = std::move(r), handler = std::move(handler)]() mutable { std::move(handler)(std::move(r)); });
        });
      },
      asio::use_awaitable);
  co_return Json(reply.status, reply.body);
}

std::string Server::Metrics() const {
  auto& c = counters_;
  PromText out;
  out.Counter("skyport_hub_console_requests_total", "Console requests answered (pages, assets, API).", c.requests.load());
  out.Gauge("skyport_hub_console_connections_open", "Connections open to the console.", c.connections_open.load());
  out.Family("skyport_hub_console_refused_total", PromType::kCounter,
             "Console connections and requests refused or cut, by the bound that bit.");
  for (auto [cause, v] : {std::pair<const char*, uint64_t>{"max_connections", c.conn_refused_server.load()},
                          {"max_connections_per_client", c.conn_refused_client.load()},
                          {"header_timeout", c.slow_header.load()},
                          {"body_timeout", c.slow_body.load()},
                          {"write_timeout", c.slow_write.load()},
                          {"header_too_large", c.header_too_large.load()},
                          {"body_too_large", c.body_too_large.load()},
                          {"malformed", c.malformed.load()},
                          {"method", c.method_refused.load()},
                          {"host", c.host_refused.load()},
                          {"max_pending_calls", c.busy.load()},
                          {"max_sse_streams", c.sse_refused.load()},
                          {"sse_slow_reader", c.sse_slow.load()}})
    out.Sample("skyport_hub_console_refused_total", {{"cause", cause}}, v);
  out.Counter("skyport_hub_console_accept_errors_total", "Failed accepts on the console listener.", c.accept_errors.load());
  out.Counter("skyport_hub_console_logins_total", "Console logins that made a session.", c.logins.load());
  out.Counter("skyport_hub_console_login_failures_total",
              "Console logins and Bearer tokens refused (wrong token or no token in the body).", c.login_failed.load());
  out.Counter("skyport_hub_console_login_limited_total",
              "Console logins answered 429: the address had too many failures in the window.", c.login_limited.load());
  out.Counter("skyport_hub_console_unauthorized_total", "Console API requests answered 401 (no valid session).",
              c.unauthorized.load());
  out.Counter("skyport_hub_console_csrf_refused_total",
              "Console POSTs answered 403 (missing or wrong X-CSRF-Token, or a foreign Origin).", c.csrf_refused.load());
  out.Gauge("skyport_hub_console_calls_pending", "Console data calls running or queued.", c.calls_pending.load());
  out.Gauge("skyport_hub_console_sse_streams", "Console event streams open.", c.sse_open.load());
  out.Counter("skyport_hub_console_sse_events_total", "Events sent on console event streams.", c.sse_events.load());
  size_t sessions = 0;
  SessionCounters sc;
  {
    std::lock_guard<std::mutex> l(mu_);
    sessions = sessions_.size();
    sc = sessions_.counters();
  }
  out.Gauge("skyport_hub_console_sessions", "Console sessions live (in memory: a hub restart ends them).", sessions);
  out.Counter("skyport_hub_console_sessions_expired_total", "Console sessions ended by idle or absolute expiry.",
              sc.expired);
  out.Counter("skyport_hub_console_sessions_evicted_total",
              "Console sessions dropped (least recently used) to stay within the session bound.", sc.evicted);
  out.Counter("skyport_hub_console_cache_hits_total", "Console GETs answered from the 500 ms cache.",
              data_->cache_hits());
  out.Counter("skyport_hub_console_data_calls_total", "Console GETs that asked the hub, registry or routers.",
              data_->calls());
  return out.str();
}

Status Server::Listen() {
  auto hp = SplitHostPort(opts_.listen);
  if (!hp.ok()) return Status::InvalidArgument("console-listen: " + hp.status().message());
  boost::system::error_code ec;
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(hp->first, std::to_string(hp->second), ec);
  if (ec || results.empty())
    return Status::InvalidArgument(fmt::format("console-listen {}: {}", opts_.listen, ec.message()));
  tcp::endpoint ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable(fmt::format("console-listen {}: {} (another skyport-hub?)", opts_.listen, ec.message()));
  SetCloexec(acceptor_.native_handle());
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void Server::Run() {
  asio::co_spawn(ioc_, Accept(), asio::detached);
  asio::co_spawn(ioc_, Versions(), asio::detached);
  for (int i = 0; i < std::max(1, opts_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
}

// One timer for every stream: the state digest is computed once per interval, on a worker.
asio::awaitable<void> Server::Versions() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (opts_.state_version) {
      auto ex = co_await asio::this_coro::executor;
      uint64_t v = co_await asio::async_initiate<decltype(asio::use_awaitable), void(uint64_t)>(
          [this, ex](auto handler) mutable {
            asio::post(workers_, [this, ex, handler = std::move(handler)]() mutable {
              uint64_t r = opts_.state_version();
              asio::post(ex, [r, handler = std::move(handler)]() mutable { std::move(handler)(r); });
            });
          },
          asio::use_awaitable);
      version_.store(v);
    }
    timer.expires_after(std::chrono::milliseconds(std::max(100, opts_.sse_interval_ms)));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
  }
}

bool Server::Admit(const std::string& peer) {
  const ConnectionAdmission::Verdict v = admission_.Admit(peer);
  counters_.connections_open.store(admission_.open());
  if (v == ConnectionAdmission::Verdict::kAdmitted) return true;
  (v == ConnectionAdmission::Verdict::kServerFull ? counters_.conn_refused_server : counters_.conn_refused_client)
      .fetch_add(1);
  if (uint64_t held = 0; ShouldLog("max_connections", &held))
    log::Warn("console: connection refused at its bound",
              {{"peer", peer}, {"limit", opts_.max_connections}, {"per_client", opts_.max_connections_per_client},
               {"cause", "max_connections"}, {"suppressed_since_last", held}});
  return false;
}

void Server::Release(const std::string& peer) {
  admission_.Release(peer);
  counters_.connections_open.store(admission_.open());
}

asio::awaitable<void> Server::Accept() {
  return AcceptLoop(
      acceptor_, "console", counters_.accept_errors, [this](const std::string& peer) { return Admit(peer); },
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
  beast::flat_buffer buf(opts_.max_header_bytes + opts_.max_body_bytes + 8192);
  // A declared Content-Length over the bound (seen with the head) or a body that grows past it.
  auto too_large = [this, &peer] {
    counters_.body_too_large.fetch_add(1);
    if (uint64_t held = 0; ShouldLog("body_too_large", &held))
      log::Warn("console: request body too large",
                {{"peer", peer}, {"cause", "body_too_large"}, {"suppressed_since_last", held}});
    return JsonError(413, fmt::format("request body larger than {} bytes", opts_.max_body_bytes));
  };
  for (;;) {
    http::request_parser<http::string_body> p;
    p.header_limit(opts_.max_header_bytes);
    p.body_limit(opts_.max_body_bytes);
    boost::system::error_code ec;
    if (buf.size() == 0) {  // keep-alive idle: wait for the first byte of the next request
      stream.expires_after(std::chrono::seconds(opts_.idle_timeout_s));
      size_t n = co_await stream.async_read_some(buf.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
      buf.commit(n);
      if (ec) break;
    }
    stream.expires_after(std::chrono::seconds(opts_.header_timeout_s));
    co_await http::async_read_header(stream, buf, p, asio::redirect_error(asio::use_awaitable, ec));
    Response res;
    bool keep_alive = false;
    if (ec == beast::error::timeout) {
      counters_.slow_header.fetch_add(1);
      if (uint64_t held = 0; ShouldLog("header_timeout", &held)) log::Warn("console: request head too slow; connection closed", {{"peer", peer}, {"cause", "header_timeout"}, {"suppressed_since_last", held}});
      break;
    } else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) {
      break;
    } else if (ec == http::error::header_limit) {
      counters_.header_too_large.fetch_add(1);
      if (uint64_t held = 0; ShouldLog("header_too_large", &held)) log::Warn("console: request head too large", {{"peer", peer}, {"cause", "header_too_large"}, {"suppressed_since_last", held}});
      res = Text(431, "request head too large\n");
    } else if (ec == http::error::body_limit) {
      res = too_large();
    } else if (ec) {
      counters_.malformed.fetch_add(1);
      res = Text(400, "malformed HTTP request\n");
    } else {
      if (!p.is_done()) {
        stream.expires_after(std::chrono::seconds(opts_.body_timeout_s));
        co_await http::async_read(stream, buf, p, asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec == beast::error::timeout) {
        counters_.slow_body.fetch_add(1);
        if (uint64_t held = 0; ShouldLog("body_timeout", &held)) log::Warn("console: request body too slow; connection closed", {{"peer", peer}, {"cause", "body_timeout"}, {"suppressed_since_last", held}});
        res = JsonError(408, "request body too slow");
      } else if (ec == http::error::body_limit) {
        res = too_large();
      } else if (ec) {
        counters_.malformed.fetch_add(1);
        res = Text(400, "malformed or truncated request body\n");
      } else {
        bool streamed = false;
        res = co_await Handle(stream, p.get(), peer, &streamed);
        if (streamed) break;  // an event stream, written to its end
        keep_alive = p.get().keep_alive();
      }
    }
    counters_.requests.fetch_add(1);
    SecurityHeaders(res);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == beast::error::timeout) {
      counters_.slow_write.fetch_add(1);
      if (uint64_t held = 0; ShouldLog("write_timeout", &held)) log::Warn("console: client too slow to take a response; connection closed", {{"peer", peer}, {"cause", "write_timeout"}, {"suppressed_since_last", held}});
    }
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

Response Server::Static(const Request& req, const std::string& name, bool page) {
  const Asset* a = FindAsset(name);
  if (a == nullptr) return Text(404, page ? "the console's index.html is missing from this build\n" : "no such asset\n");
  const std::string_view if_none = Header(req, http::field::if_none_match);
  Response res{http::status::ok, 11};
  res.set(http::field::etag, a->etag);
  // Revalidated on every load (the names carry no hash): a new hub binary shows its new pages at once.
  res.set(http::field::cache_control, "no-cache");
  if (!if_none.empty() && if_none.find(a->etag) != std::string_view::npos) {
    res.result(http::status::not_modified);
    return res;
  }
  res.set(http::field::content_type, a->content_type);
  res.body().assign(reinterpret_cast<const char*>(a->data), a->size);
  return res;
}

asio::awaitable<Response> Server::Handle(beast::tcp_stream& stream, const Request& req, const std::string& peer,
                                         bool* streamed) {
  if (req.method() != http::verb::get && req.method() != http::verb::post) {
    counters_.method_refused.fetch_add(1);
    Response res = Text(405, "only GET and POST\n");
    res.set(http::field::allow, "GET, POST");
    co_return res;
  }
  if (!HostAllowed(Header(req, http::field::host), opts_.hosts)) {
    counters_.host_refused.fetch_add(1);
    if (uint64_t held = 0; ShouldLog("host", &held)) log::Warn("console: request for another host name refused (DNS rebinding?); --console-hosts lists the names it may use", {{"peer", peer}, {"cause", "host"}, {"suppressed_since_last", held}});
    co_return JsonError(421, "this console does not answer to that Host name; list it with skyport-hub --console-hosts");
  }
  const bool post = req.method() == http::verb::post;
  Route route = ParseRoute(std::string_view(req.target().data(), req.target().size()));
  if (route.kind == Kind::kFlights && post) {
    route.kind = Kind::kFlightStart;
    route.method = "POST";
  }
  if (route.kind == Kind::kBadName) co_return JsonError(400, route.error);
  if (route.kind == Kind::kNotFound) co_return JsonError(404, route.error);
  if (std::string_view(route.method) != (post ? "POST" : "GET")) {
    counters_.method_refused.fetch_add(1);
    Response res = route.is_api() ? JsonError(405, fmt::format("use {}", route.method)) : Text(405, "use GET\n");
    res.set(http::field::allow, route.method);
    co_return res;
  }
  if (route.kind == Kind::kPage) co_return Static(req, "index.html", true);
  if (route.kind == Kind::kAsset) co_return Static(req, route.name, false);
  co_return co_await Api(stream, req, route, peer, streamed);
}

Auth Server::Authenticate(const Request& req, const std::string& peer) {
  Auth a;
  const int64_t now = MonoNowMs();
  if (auto bearer = BearerToken(Header(req, http::field::authorization))) {
    std::lock_guard<std::mutex> l(mu_);
    // Guesses through Bearer count against the same per-address login limit.
    if (!logins_.Allowed(LoginLimiterKey(peer), now)) {
      a.limited = true;
      return a;
    }
    if (ConstantTimeEquals(*bearer, opts_.token)) {
      a.ok = a.bearer = true;
      return a;
    }
    logins_.Failed(LoginLimiterKey(peer), now);
    counters_.login_failed.fetch_add(1);
    return a;
  }
  // Every skyport_session of every Cookie header: another port of this host may have set one
  // with a longer Path, which the browser sends first (CookieValues).
  for (auto [it, end] = req.equal_range(http::field::cookie); it != end; ++it) {
    for (const std::string& id : CookieValues(std::string_view(it->value().data(), it->value().size()), kSessionCookie)) {
      if (id.empty()) continue;
      std::lock_guard<std::mutex> l(mu_);
      if (auto csrf = sessions_.Touch(id, now)) {
        a.ok = true;
        a.session = id;
        a.csrf = *csrf;
        return a;
      }
    }
  }
  return a;
}

Response Server::Login(const Request& req, const std::string& peer) {
  const int64_t now = MonoNowMs();
  const std::string_view host = Header(req, http::field::host);
  if (auto origin = OptionalHeader(req, "Origin"); origin && !OriginListed(*origin, opts_.hosts)) {
    if (CheckCsrf("x", "x", origin, host) == CsrfVerdict::kForeignOrigin) {
      counters_.csrf_refused.fetch_add(1);
      if (uint64_t held = 0; ShouldLog("csrf", &held)) log::Warn("console: cross-origin login refused", {{"peer", peer}, {"cause", "csrf"}, {"suppressed_since_last", held}});
      return JsonError(403, CsrfVerdictText(CsrfVerdict::kForeignOrigin));
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (int64_t wait_ms = logins_.RetryAfterMs(LoginLimiterKey(peer), now); wait_ms > 0) {
      counters_.login_limited.fetch_add(1);
      Response res = JsonError(429, "too many failed logins from your address; try again later");
      res.set(http::field::retry_after, std::to_string((wait_ms + 999) / 1000));
      return res;
    }
  }
  auto token = LoginToken(Header(req, http::field::content_type), req.body());
  if (!token.ok() || !ConstantTimeEquals(*token, opts_.token)) {
    {
      std::lock_guard<std::mutex> l(mu_);
      logins_.Failed(LoginLimiterKey(peer), now);
    }
    counters_.login_failed.fetch_add(1);
    // Never the token: only who tried and why it failed.
    if (uint64_t held = 0; ShouldLog("login_failed", &held)) log::Warn("console: login refused", {{"peer", peer}, {"cause", "login_failed"}, {"suppressed_since_last", held}});
    return JsonError(token.ok() ? 401 : 400, token.ok() ? "wrong token" : token.status().message());
  }
  const std::string id = SecureHexId() + SecureHexId();    // 256 bits
  const std::string csrf = SecureHexId() + SecureHexId();
  {
    std::lock_guard<std::mutex> l(mu_);
    sessions_.Create(id, csrf, now);
  }
  counters_.logins.fetch_add(1);
  log::Info("console login", {{"peer", peer}});
  Response res = Json(200, nlohmann::json{{"csrf", csrf}});
  res.set(http::field::set_cookie, fmt::format("{}={}; HttpOnly; SameSite=Strict; Path=/{}", kSessionCookie, id,
                                               opts_.secure_cookie ? "; Secure" : ""));
  return res;
}

Response Server::Logout(const Auth& auth) {
  if (!auth.session.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    sessions_.Remove(auth.session);
  }
  Response res = Json(200, nlohmann::json{{"ok", true}});
  res.set(http::field::set_cookie, fmt::format("{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}", kSessionCookie,
                                               opts_.secure_cookie ? "; Secure" : ""));
  return res;
}

asio::awaitable<Response> Server::Api(beast::tcp_stream& stream, const Request& req, Route& route,
                                      const std::string& peer, bool* streamed) {
  if (route.kind == Kind::kLogin) co_return Login(req, peer);
  Auth auth = Authenticate(req, peer);
  if (auth.limited) {
    counters_.login_limited.fetch_add(1);
    Response res = JsonError(429, "too many failed logins from your address; try again later");
    res.set(http::field::retry_after, "60");
    co_return res;
  }
  if (!auth.ok) {
    counters_.unauthorized.fetch_add(1);
    co_return JsonError(401, "not logged in (POST /api/login, or Authorization: Bearer <cluster token>)");
  }
  if (req.method() == http::verb::post && !auth.bearer) {
    auto origin = OptionalHeader(req, "Origin");
    if (origin && OriginListed(*origin, opts_.hosts)) origin.reset();  // a listed name: the console's own
    const CsrfVerdict v = CheckCsrf(OptionalHeader(req, "X-CSRF-Token"), auth.csrf, origin, Header(req, http::field::host));
    if (v != CsrfVerdict::kOk) {
      counters_.csrf_refused.fetch_add(1);
      if (uint64_t held = 0; ShouldLog("csrf", &held)) log::Warn("console: POST refused by the CSRF check", {{"peer", peer}, {"why", CsrfVerdictText(v)}, {"cause", "csrf"}, {"suppressed_since_last", held}});
      co_return JsonError(403, CsrfVerdictText(v));
    }
  }
  switch (route.kind) {
    case Kind::kSession:
      co_return Json(200, nlohmann::json{{"csrf", auth.bearer ? nlohmann::json(nullptr) : nlohmann::json(auth.csrf)}});
    case Kind::kLogout: co_return Logout(auth);
    case Kind::kEvents:
      co_await Events(stream, auth, streamed);
      co_return Response{};
    default: break;
  }
  Response bad;
  const std::function<Reply()> job = Job(route, req.body(), &bad);
  if (!job) co_return bad;
  co_return co_await Call(job);
}

std::function<Reply()> Server::Job(const Route& route, const std::string& body, Response* bad) {
  ConsoleData* d = data_;
  switch (route.kind) {
    case Kind::kOverview: return [d] { return d->Overview(); };
    case Kind::kApp: return [d, app = route.app] { return d->App(app); };
    case Kind::kAppStats: {
      auto params = ParseStatsParams(route.query);
      if (!params.ok()) {
        *bad = JsonError(400, params.status().message());
        return nullptr;
      }
      return [d, app = route.app, p = *params] { return d->AppStats(app, p); };
    }
    case Kind::kFlights: {
      auto all = route.query.find("all");
      const bool every = all != route.query.end() && all->second != "0" && all->second != "false";
      return [d, every] { return d->Flights(every); };
    }
    case Kind::kFlight: return [d, name = route.name] { return d->Flight(name); };
    case Kind::kRegistry: return [d] { return d->Registry(); };
    case Kind::kDrones: return [d] { return d->Drones(); };
    case Kind::kSplit:
    case Kind::kSplitPreview: {
      const bool preview = route.kind == Kind::kSplitPreview;
      return [d, app = route.app, body, preview] { return d->Split(app, body, preview); };
    }
    case Kind::kRollback: return [d, app = route.app, body] { return d->Rollback(app, body); };
    case Kind::kFlightStart: return [d, body] { return d->FlightStart(body); };
    case Kind::kFlightKill: return [d, name = route.name, body] { return d->FlightKill(name, body); };
    default:
      *bad = JsonError(404, "no such API route");
      return nullptr;
  }
}

asio::awaitable<void> Server::Events(beast::tcp_stream& stream, const Auth& auth, bool* streamed) {
  *streamed = true;
  boost::system::error_code ec;
  if (counters_.sse_open.fetch_add(1) >= static_cast<uint64_t>(opts_.max_sse_streams)) {
    counters_.sse_open.fetch_sub(1);
    counters_.sse_refused.fetch_add(1);
    if (uint64_t held = 0; ShouldLog("max_sse_streams", &held)) log::Warn("console: event stream refused at its bound", {{"limit", opts_.max_sse_streams}, {"cause", "max_sse_streams"}, {"suppressed_since_last", held}});
    Response res = JsonError(503, "too many event streams open; poll instead, or try again later");
    res.set(http::field::retry_after, "5");
    SecurityHeaders(res);
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    co_return;
  }
  struct Open {
    Counters& c;
    ~Open() { c.sse_open.fetch_sub(1); }
  } open{counters_};
  http::response<http::empty_body> head{http::status::ok, 11};
  SecurityHeaders(head);
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.chunked(true);
  head.keep_alive(false);
  http::response_serializer<http::empty_body> writer{head};
  stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
  co_await http::async_write_header(stream, writer, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (uint64_t n = 1; !stopping_; ++n) {
    bool alive = true;
    if (!auth.bearer) {
      std::lock_guard<std::mutex> l(mu_);
      alive = sessions_.Touch(auth.session, MonoNowMs()).has_value();
    }
    const uint64_t version = version_.load() ^ (data_->actions() * 0x9e3779b97f4a7c15ull);
    std::string frame = alive ? fmt::format("{}event: tick\nid: {}\ndata: {{\"tick\":{},\"version\":\"{:x}\"}}\n\n",
                                            n == 1 ? "retry: 2000\n" : "", n, n, version)
                              : std::string("event: logout\ndata: {}\n\n");
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await asio::async_write(stream, http::make_chunk(asio::buffer(frame)), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == beast::error::timeout) {
      counters_.sse_slow.fetch_add(1);
      if (uint64_t held = 0; ShouldLog("sse_slow_reader", &held)) log::Warn("console: event stream reader too slow; closed", {{"cause", "sse_slow_reader"}, {"suppressed_since_last", held}});
    }
    if (ec || !alive) break;
    counters_.sse_events.fetch_add(1);
    tick.expires_after(std::chrono::milliseconds(std::max(100, opts_.sse_interval_ms)));
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec) {
    stream.expires_after(std::chrono::seconds(opts_.write_timeout_s));
    co_await asio::async_write(stream, http::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

bool IsLoopbackListen(const std::string& listen) {
  auto hp = SplitHostPort(listen);
  if (!hp.ok()) return false;
  const std::string& h = hp->first;
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0;
}

Result<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(ConsoleOptions opts, ConsoleData* data) {
  if (data == nullptr) return Status::InvalidArgument("console: no data source");
  if (opts.token.empty()) return Status::InvalidArgument("console: a token is required (the console is never anonymous)");
  auto server = std::make_unique<Server>(std::move(opts), data);
  if (Status s = server->Listen(); !s.ok()) return s;
  server->Run();
  return std::unique_ptr<ConsoleServer>(std::move(server));
}

}  // namespace skyport::hub::console
