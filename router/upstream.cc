#include "router/worker.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "core/log.h"
#include "router/instance_picker.h"

namespace skyport::router {

const Instance* Worker::Choose(Client* c) {
  const auto& insts = c->arm->instances;
  const int i = PickInstance(
      o_.balance, insts.size(), c->tried, [&]() -> uint32_t& { return rr_[c->arm]; },
      [&](size_t k) {
        auto it = pools_.find(insts[k].label);
        if (it == pools_.end()) return InstanceLoad{};
        return InstanceLoad{Ejected(it->second.ejected_until_ms, now_ms_), it->second.outstanding};
      });
  return i < 0 ? nullptr : &insts[static_cast<size_t>(i)];
}

bool Worker::PickAndConnect(Client* c) {
  do {
    while (c->attempts < o_.max_attempts) {
      const Instance* inst = Choose(c);
      if (!inst) break;
      c->tried |= TriedBit(static_cast<size_t>(inst - c->arm->instances.data()));
      if (c->attempts > 0 || c->retrying) c_->retries.fetch_add(1, std::memory_order_relaxed);
      c->retrying = false;
      ++c->attempts;
      c->inst = inst;
      if (Connect(c, *inst)) return true;
      if (c->dead) return false;
    }
  } while (MoveToNewerTable(c));
  LocalError(c, 502,
             fmt::format("cannot connect to any instance of {}@{}", c->app->name, c->arm->commit.substr(0, 12)),
             c->req_scanned && c->req_ready == 0);
  return false;
}

// The request's table predates the current one and none of its arm's
// instances could be reached (typically: a stop or a redeploy removed them,
// and the request was dealt just before the router heard). Nothing of the
// answer has arrived, so the request goes on in the current table, to the
// arm RetryArm names, with a fresh set of attempts: Envoy likewise picks each
// retry's host from the cluster's current membership. At most
// kMaxTableMoves times per request.
bool Worker::MoveToNewerTable(Client* c) {
  if (!table_ || c->table == table_ || !c->app || !c->arm || c->resp_started || c->table_moves >= kMaxTableMoves)
    return false;
  const AppRoute* app = table_->FindApp(c->app->name);
  if (!app) return false;
  const bool in_flight = !c->flight.empty();
  // A flight's user stays in the same flight or not at all (c->flight views the old table).
  if (in_flight && (!app->flight || app->flight->id != c->flight)) return false;
  const int arm = app->RetryArm(c->arm->commit, in_flight);
  if (arm < 0) return false;
  ++c->table_moves;
  c_->table_moves.fetch_add(1, std::memory_order_relaxed);
  c->table = table_;  // keeps `app` and the arm alive
  c->app = app;
  c->arm = &app->arms[static_cast<size_t>(arm)];
  if (in_flight) c->flight = app->flight->id;
  c->tried = 0;
  c->attempts = 0;
  c->retrying = true;
  return true;
}

// Binds `c` to a pooled connection to `inst`, or starts a new one. False if
// a new connection failed at once.
bool Worker::Connect(Client* c, const Instance& inst) {
  Pool& pool = pools_[inst.label];
  ++pool.outstanding;
  if (pool.app != c->app->name) pool.app = c->app->name;  // allocates only when the instance changes app
  while (!pool.idle.empty()) {
    Upstream* u = pool.idle.back();
    pool.idle.pop_back();
    c_->pooled_idle.fetch_sub(1, std::memory_order_relaxed);
    u->idle = false;
    if (u->dead) continue;
    // Check before reuse: an idle connection has nothing to say. Bytes (an
    // answer to a request nobody sent now) or an end of stream that came
    // after the last loop turn's events mean it goes, never to a client.
    char probe;
    ssize_t n = ::recv(u->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
      if (n > 0) UpstreamMisbehaved(c_->unpooled_extra, u->label, "bytes on an idle pooled connection");
      Destroy(u);
      continue;
    }
    u->readable = false;
    u->client = c;
    u->pool = &pool;
    u->last_ms = now_ms_;
    c->up = u;
    return true;
  }
  c_->upstream_connects.fetch_add(1, std::memory_order_relaxed);
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, inst.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(inst.port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, inst.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(inst.port);
    len = sizeof *v6;
  }
  int fd = len ? ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
  bool started = fd >= 0 && (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS);
  if (!started) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    --pool.outstanding;
    Eject(pool, inst.label, len ? std::strerror(err) : "bad address");
    return false;
  }
  SetNoDelay(fd);
  auto* u = new Upstream(fd, inst.label);
  u->pool = &pool;
  u->client = c;
  u->connecting = true;
  u->last_ms = now_ms_;
  c->up = u;
  Add(u, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  return true;
}

void Worker::Eject(Pool& pool, const std::string& label, const char* why) {
  c_->connect_failures.fetch_add(1, std::memory_order_relaxed);
  // Log when an instance starts being skipped, not on every refused request.
  if (router::Eject(pool.ejected_until_ms, now_ms_, o_.eject_ms))
    log::Warn("upstream connect failed", {{"instance", label}, {"error", why}});
}

void Worker::UpstreamFailed(Client* c, bool connect_failure, const char* why) {
  Upstream* u = c->up;
  std::string label = u ? u->label : std::string();
  bool reused = u && u->reused;
  if (connect_failure && u) Eject(*u->pool, label, why);
  ReleaseUpstream(c, false);
  // Safe to send again: see DecideRetry (router/instance_picker.h).
  const RetryDecision retry = DecideRetry(connect_failure, c->resp_started, c->idempotent,
                                          c->req_body != http1::BodyKind::kNone, reused);
  if (retry.retry) {
    c->retrying = true;
    c->fwd_off = 0;
    c->req_write_dead = false;
    c->up_keep = true;
    c->close_after = !c->keep_alive;
    if (retry.same_instance) {
      // Same instance is fine: the pool handed us a stale connection.
      c->tried &= ~TriedBit(static_cast<size_t>(c->inst - c->arm->instances.data()));
      --c->attempts;
    }
    PickAndConnect(c);  // on failure it answers 502 itself
    Schedule(c);        // go on from the Run loop, whoever called us
    return;
  }
  if (!c->resp_started) {
    LocalError(c, 502, fmt::format("upstream {} failed: {}", label, why), false);
  } else {
    AbortExchange(c);
  }
}

}  // namespace skyport::router
