// One proxy event loop (see proxy.h): its connections, pools and the
// request state machine. Internal to the router's shell; worker.cc runs the
// loop and owns connections, upstream.cc picks and connects instances,
// exchange.cc starts and ends one request/response, request_pump.cc sends the
// request on, response_relay.cc brings the answer back (and tunnels),
// local_response.cc answers errors itself, event_posts.cc takes event posts,
// accounting.cc records outcomes and exposures.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "router/arm_choice.h"
#include "router/http1.h"
#include "router/io_buf.h"
#include "router/events.h"
#include "router/journal.h"
#include "router/proxy.h"
#include "router/traffic.h"
#include "router/user_cookie.h"

namespace skyport::router {

inline constexpr size_t kClientBuf = 16 * 1024;
inline constexpr size_t kUpstreamBuf = 16 * 1024;

// writev that never raises SIGPIPE (a peer that reset is an error value).
inline ssize_t SendV(int fd, iovec* iov, int count) {
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = static_cast<size_t>(count);
  return ::sendmsg(fd, &m, MSG_NOSIGNAL);
}

inline void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct Conn {
  enum class Kind : uint8_t { kListener, kWake, kClient, kUpstream };
  explicit Conn(Kind k, int f) : kind(k), fd(f) {}
  Kind kind;
  int fd;
  bool readable = false;
  bool writable = false;
  bool dead = false;
  bool rdhup = false;   // the peer shut its sending side: reads go on until they return 0
  bool eof = false;     // a read returned 0 or failed: nothing more will come
  int64_t last_ms = 0;  // last progress, for timeouts
  uint64_t read_bytes = 0;  // bytes received so far
};

struct Client;

// Per worker and instance: idle keep-alive connections, requests in flight,
// and how long the instance is skipped after a refused connect.
struct Pool {
  std::vector<struct Upstream*> idle;
  int outstanding = 0;
  int64_t ejected_until_ms = 0;
  // The app whose request last used the instance: a new table is checked for
  // the instance in that app only (RefreshTable), not in every app.
  std::string app;
};

struct Upstream : Conn {
  Upstream(int f, std::string l) : Conn(Kind::kUpstream, f), in(kUpstreamBuf), label(std::move(l)) {}
  IoBuf in;
  std::string label;  // instance "host:port": the pool key
  Client* client = nullptr;
  Pool* pool = nullptr;  // stable: a pool with requests in flight is never erased
  bool connecting = false;
  bool reused = false;
  bool idle = false;
};

struct Client : Conn {
  enum class State : uint8_t { kHead, kExchange, kTunnel, kClosing };
  Client(int f) : Conn(Kind::kClient, f), in(kClientBuf) {}
  IoBuf in;
  std::string out;  // heads and local responses waiting to be written
  size_t out_off = 0;
  State state = State::kHead;
  size_t index = 0;  // in Worker::clients_
  char peer[INET6_ADDRSTRLEN] = {0};

  // The exchange in flight.
  std::shared_ptr<const RouteTable> table;
  const AppRoute* app = nullptr;
  const Arm* arm = nullptr;
  const Instance* inst = nullptr;
  Upstream* up = nullptr;
  std::string fwd;  // the request head as forwarded
  size_t fwd_off = 0;
  http1::BodyKind req_body = http1::BodyKind::kNone;
  uint64_t req_left = 0;       // kLength: bytes not yet scanned
  http1::ChunkedScanner req_chunks;
  size_t req_ready = 0;        // body bytes at the front of `in`, scanned, not yet written
  bool req_scanned = false;    // the whole body has been scanned
  bool is_head = false;
  bool keep_alive = true;
  bool upgrade = false;
  bool idempotent = false;
  bool req_had_body = false;   // Content-Length > 0 or chunked: the upstream may not have read it (see FinishExchange)
  bool body_method = false;    // POST, PUT or PATCH: methods whose bodies servers read
  bool early_response = false; // the response head came before the request was sent whole
  bool new_user = false;
  bool resp_started = false;   // a byte of the response arrived
  bool resp_head_done = false;
  bool resp_scanned = false;
  bool close_after = false;    // close the client after this response
  bool dechunk = false;        // HTTP/1.0 client, chunked answer: sent unchunked, ended by the close
  bool up_keep = true;         // the upstream may be reused after this response
  bool req_write_dead = false; // the upstream stopped taking the request (it may still answer)
  bool queued = false;         // on Worker::ready_
  bool retrying = false;       // the next connect attempt is a retry (for the counter)
  bool wr_shut = false;        // kClosing: our side is shut, draining what the client still sends
  int64_t head_start_ms = 0;   // when the first byte of the current head arrived
  int64_t accepted_ms = 0;     // when the connection was accepted
  bool head_seen = false;      // a whole request head arrived on this connection
  int64_t body_start_ms = 0;   // the current request's head was parsed (body timeout)
  uint64_t body_start_bytes = 0;  // read_bytes then
  int minor = 1;               // the request's HTTP/1.x minor version
  http1::BodyKind resp_body = http1::BodyKind::kNone;
  uint64_t resp_left = 0;
  http1::ChunkedScanner resp_chunks;
  size_t resp_ready = 0;       // body bytes at the front of up->in, scanned, not yet written
  int status = 0;
  int attempts = 0;
  int table_moves = 0;         // times the request went on in a newer table (Worker::MoveToNewerTable)
  uint64_t tried = 0;          // bitmask of instance indexes tried (first 64)
  int64_t start_us = 0;
  std::string cookie;          // Set-Cookie value for a newly assigned user
  // The flight the user is enrolled in (a view of the table's Flight::name),
  // "" outside flights: exposures, events and request rows carry it.
  std::string_view flight;
};

// True when `c`'s request body is too slow (nginx client_body_timeout taken
// over the whole body, HAProxy timeout http-request): still arriving
// `body_timeout_ms` after its head and, with `min_rate` > 0 (bytes/s), below
// that average since the head. A full buffer (the upstream not reading) is
// back-pressure, not the client's slowness.
inline bool SlowBody(const Client& c, int64_t now_ms, int body_timeout_ms, int min_rate) {
  if (c.state != Client::State::kExchange || c.req_scanned || c.in.size() >= c.in.capacity()) return false;
  const int64_t elapsed = now_ms - c.body_start_ms;
  if (elapsed < body_timeout_ms) return false;
  if (min_rate <= 0) return true;
  const uint64_t got = c.read_bytes - c.body_start_bytes;
  return got * 1000 < static_cast<uint64_t>(min_rate) * static_cast<uint64_t>(elapsed);
}

// The reason phrase of a status the router answers itself ("Error" when not listed).
const char* Reason(int status);

class Worker {
 public:
  // `journal` (with a data dir; needs a shipper): this worker's event journal writer.
  Worker(const ProxyOptions& o, RouteHolder* routes, StatsStore* stats, StatsShipper* shipper, ProxyCounters* counters,
         int listen_fd, std::unique_ptr<EventJournal::Writer> journal = nullptr)
      : o_(o), routes_(routes), shard_(stats), shipper_(shipper), journal_(std::move(journal)), c_(counters) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    listener_ = new Conn(Conn::Kind::kListener, listen_fd);
    wake_ = new Conn(Conn::Kind::kWake, wake_fd_);
    Add(listener_, EPOLLIN | EPOLLET);
    Add(wake_, EPOLLIN | EPOLLET);
  }
  ~Worker() {
    if (spare_fd_ >= 0) ::close(spare_fd_);
    for (Client* cl : clients_) {
      if (cl->up) ReleaseUpstream(cl, false);
      Destroy(cl);
    }
    for (auto& [label, pool] : pools_)
      for (Upstream* u : pool.idle) Destroy(u);
    FreeDead();
    if (listener_->fd >= 0) ::close(listener_->fd);
    ::close(wake_fd_);
    ::close(ep_);
    delete listener_;
    delete wake_;
  }

  void Run();
  void RequestStop(int64_t deadline_ms) {
    stop_deadline_ms_.store(deadline_ms);
    stopping_.store(true);
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }

 private:
  void Add(Conn* c, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = c;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd, &ev);
  }
  void Accept();
  // At max_connections: closes the oldest connection without a whole request
  // head (else the oldest idle one); false when none may go.
  bool ShedOne();
  // EMFILE/ENFILE: refuses one pending connection with the spare fd, pauses
  // accepting for a while; counted, logged at most every 10 s.
  void AcceptFailed(int err);
  void RefreshTable();
  bool MoveToNewerTable(Client* c);
  static constexpr int kMaxTableMoves = 2;
  void Scan();
  void Pump(Client* c);
  bool StartExchange(Client* c);
  // Normalises req_'s path (into path_) and drops fields named with '_';
  // false when it answered the request itself (400).
  bool PrepareRequest(Client* c);
  bool PickAndConnect(Client* c);
  bool Connect(Client* c, const Instance& inst);
  bool PumpRequest(Client* c);
  bool PumpResponse(Client* c);
  bool PumpTunnel(Client* c);
  bool ReadInto(Conn* conn, IoBuf& buf, bool& eof);
  bool FlushClient(Client* c, const char* body, size_t body_len, size_t& body_written);
  void OnResponseHead(Client* c, const http1::ResponseHead& h);
  void FinishExchange(Client* c);
  void UpstreamFailed(Client* c, bool connect_failure, const char* why);
  void LocalError(Client* c, int status, std::string_view message, bool keep_alive);
  // Answers the request itself (status, type, body); keeps the connection when it may.
  void LocalResponse(Client* c, int status, std::string_view content_type, std::string_view body, bool keep_alive,
                     std::string_view extra_headers = {});
  // Event posts: true while the body of one is still arriving (see Pump).
  bool WaitingForEventsBody(Client* c, const http1::RequestHead& r);
  // `cookie_user`: the id of a valid user cookie sent with the post (any
  // split id), "" without one.
  void HandleEvents(Client* c, const http1::RequestHead& r, std::string_view cookie_user);
  // Counts the verdict on a user cookie sent with a request (migrated,
  // rotated, refused); nothing without one.
  void CountCookie(const RequestUser& user);
  // Counts a refused user cookie; logs at most every 10 s (never the value).
  void RejectedCookie(CookieVerdict verdict);
  // Hands the aggregated rows over about once a second: to the journal
  // (sealing the worker's segment) or to the shipper. `last`: the worker stops.
  void ShipAggregates(bool last = false);
  // The new-user budget per client address: false when this request's new
  // user is over it (then nothing of them is recorded and no cookie is set).
  bool TakeNewUserBudget(Client* c, const http1::RequestHead& r);
  void RecordExposure(Client* c, std::string_view user_id);
  void RecordOutcome(Client* c, int status);
  void JournalExposure(std::string_view app, std::string_view flight, std::string_view arm, std::string_view user);
  void AbortExchange(Client* c);
  void ReleaseUpstream(Client* c, bool reuse);
  void ResetExchange(Client* c);
  void CloseClient(Client* c);
  void Destroy(Conn* c);
  void FreeDead();
  // Pump `c` again on this loop turn's ready pass (no event will come for it).
  void Schedule(Client* c) {
    if (c->queued || c->dead) return;
    c->queued = true;
    ready_.push_back(c);
  }
  void LingerClose(Client* c);
  void OnIdleUpstreamEvent(Upstream* u);
  // An upstream said something nobody asked for, or framed an answer
  // ambiguously: counted, and logged at most every 10 s per worker.
  void UpstreamMisbehaved(std::atomic<uint64_t>& counter, const std::string& label, const char* what);
  void RemoveIdle(Upstream* u);
  const Instance* Choose(Client* c);
  void Eject(Pool& pool, const std::string& label, const char* why);

  ProxyOptions o_;
  RouteHolder* routes_;
  StatsShard shard_;
  StatsShipper* shipper_;   // null: no exposures, events or traffic rows are recorded
  std::unique_ptr<EventJournal::Writer> journal_;  // null: rows go to the shipper in memory
  EventAggregator agg_;
  TrafficAggregator traffic_;  // per arm and minute, for the hub
  int64_t last_journal_warn_ms_ = -1'000'000;
  int64_t last_upstream_warn_ms_ = -1'000'000;
  int64_t last_limit_warn_ms_ = -1'000'000;
  int64_t last_new_user_warn_ms_ = -1'000'000;
  int64_t last_agg_warn_ms_ = -1'000'000;
  ParsedEvents parsed_;     // scratch for event posts
  int64_t last_ship_s_ = 0;
  // This worker's own keys (a CookieKey is not thread-safe).
  std::unique_ptr<CookieKey> cookie_key_ = std::make_unique<CookieKey>(o_.cookie_secret);
  std::unique_ptr<CookieKey> cookie_prev_ =
      o_.cookie_secret_previous.empty() ? nullptr : std::make_unique<CookieKey>(o_.cookie_secret_previous);
  int64_t last_cookie_warn_ms_ = -1'000'000;
  ProxyCounters* c_;
  int spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // given up to refuse a connection at EMFILE
  int64_t accept_paused_until_ms_ = 0;  // > 0: accepting resumes then
  int64_t last_accept_warn_ms_ = -1'000'000;
  int64_t last_shed_warn_ms_ = -1'000'000;
  int64_t last_slow_body_warn_ms_ = -1'000'000;
  int ep_ = -1;
  int wake_fd_ = -1;
  Conn* listener_;
  Conn* wake_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> stop_deadline_ms_{0};
  bool stop_seen_ = false;

  uint64_t table_version_ = ~uint64_t{0};
  std::shared_ptr<const RouteTable> table_;
  std::vector<Client*> clients_;
  std::unordered_map<std::string, Pool> pools_;
  std::unordered_map<const Arm*, uint32_t> rr_;  // round-robin cursor per arm (of any table)
  static constexpr size_t kMaxCursors = 65536;
  std::vector<Conn*> dead_;
  std::vector<Client*> ready_;
  SystemRandom rng_;
  int64_t now_ms_ = 0;
  int64_t now_us_ = 0;
  int64_t now_s_ = 0;    // wall clock, seconds (stats buckets)
  int64_t wall_ms_ = 0;  // wall clock, ms (a coarse clock: it may lag by a tick, never run ahead)
  int64_t last_scan_ms_ = 0;
  std::string cookie_attrs_ = "; Path=/; Max-Age=" + std::to_string(o_.cookie_max_age_s) + "; HttpOnly; SameSite=Lax";
  std::string path_;         // scratch: the normalised path of the request being started
  http1::RequestHead req_;   // scratch: parsed heads are used at once
  http1::ResponseHead resp_;
};

}  // namespace skyport::router
