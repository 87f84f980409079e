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
#include "contract/split.h"

namespace skyport::router {
namespace {

constexpr int kScanIntervalMs = 100;

int64_t MonoUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}
int64_t WallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}
}  // namespace

// ---------------------------------------------------------------- loop

void Worker::Run() {
  epoll_event events[256];
  for (;;) {
    int timeout = ready_.empty() ? kScanIntervalMs : 0;
    int n = ::epoll_wait(ep_, events, 256, timeout);
    now_us_ = MonoUs();
    now_ms_ = now_us_ / 1000;
    wall_ms_ = WallMs();
    now_s_ = wall_ms_ / 1000;
    if (routes_->version() != table_version_) RefreshTable();
    for (int i = 0; i < n; ++i) {
      Conn* c = static_cast<Conn*>(events[i].data.ptr);
      if (c->dead) continue;
      uint32_t ev = events[i].events;
      switch (c->kind) {
        case Conn::Kind::kListener:
          Accept();
          break;
        case Conn::Kind::kWake: {
          uint64_t v;
          (void)!::read(wake_fd_, &v, sizeof v);
          break;
        }
        case Conn::Kind::kClient: {
          auto* cl = static_cast<Client*>(c);
          if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) cl->readable = true;
          if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) cl->writable = true;
          if (ev & (EPOLLRDHUP | EPOLLHUP)) cl->rdhup = true;
          if ((ev & (EPOLLHUP | EPOLLERR)) &&
              (cl->state == Client::State::kExchange || cl->state == Client::State::kTunnel)) {
            // The client is gone (reset) while its exchange runs: stop the upstream work too.
            AbortExchange(cl);
            break;
          }
          Pump(cl);
          break;
        }
        case Conn::Kind::kUpstream: {
          auto* u = static_cast<Upstream*>(c);
          if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->readable = true;
          if (ev & (EPOLLRDHUP | EPOLLHUP)) u->rdhup = true;
          if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) u->writable = true;
          if (u->idle) {
            OnIdleUpstreamEvent(u);
          } else if (u->client) {
            if (u->connecting && u->writable) {
              int err = 0;
              socklen_t len = sizeof err;
              ::getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
              if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
                UpstreamFailed(u->client, true, err ? std::strerror(err) : "connection refused");
                break;
              }
              u->connecting = false;
              u->last_ms = now_ms_;
            }
            Pump(u->client);
          }
          break;
        }
      }
    }
    // Connections that still have work but no event to come (see Pump).
    if (!ready_.empty()) {
      std::vector<Client*> batch;
      batch.swap(ready_);
      for (Client* cl : batch) {
        cl->queued = false;
        if (!cl->dead) Pump(cl);
      }
    }
    FreeDead();
    if (now_ms_ - last_scan_ms_ >= kScanIntervalMs) Scan();
    if (stopping_.load(std::memory_order_relaxed)) {
      if (!stop_seen_) {
        stop_seen_ = true;
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, listener_->fd, nullptr);
        ::close(listener_->fd);
        listener_->fd = -1;
      }
      // Idle keep-alive clients go now; exchanges in flight may finish.
      for (size_t i = clients_.size(); i-- > 0;) {
        Client* cl = clients_[i];
        if (cl->state == Client::State::kHead && cl->in.empty() && cl->out.empty()) CloseClient(cl);
      }
      FreeDead();
      if (clients_.empty() || now_ms_ >= stop_deadline_ms_.load()) break;
    }
  }
  shard_.Flush(now_s_ + 1);
  ShipAggregates(/*last=*/true);
}

void Worker::RefreshTable() {
  table_version_ = routes_->version();
  table_ = routes_->Get();
  // Round-robin cursors are kept: an app the new table did not touch has the
  // same Arm objects, so its users keep rotating instead of starting over at
  // the first instance on every table (tables come once per registry batch).
  // Keys of arms gone are never dereferenced; they are dropped in bulk.
  if (rr_.size() > kMaxCursors) rr_.clear();
  // Instances no longer in the table are drained: requests in flight finish,
  // their idle pooled connections close now. Each pool is looked up in its
  // app only (by name, then a binary search per arm), so a new table costs
  // the worker O(pools), not O(instances): tables with 100k instances are
  // published during a fill. An instance that left its app but still serves
  // another loses its idle connections once; they are made again on demand.
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (table_ && table_->HasInstance(it->second.app, it->first)) {
      ++it;
      continue;
    }
    for (Upstream* u : it->second.idle) {
      c_->pooled_idle.fetch_sub(1, std::memory_order_relaxed);
      u->idle = false;
      Destroy(u);
    }
    it->second.idle.clear();
    if (it->second.outstanding == 0)
      it = pools_.erase(it);
    else
      ++it;
  }
}

void Worker::Accept() {
  if (accept_paused_until_ms_ > 0) return;  // Scan resumes it
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = ::accept4(listener_->fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) AcceptFailed(errno);
      return;  // EAGAIN: drained
    }
    if (o_.max_connections > 0 && clients_.size() >= static_cast<size_t>(o_.max_connections) && !ShedOne()) {
      // Every connection is busy with a request: the new one goes (counted by ShedOne).
      ::close(fd);
      continue;
    }
    SetNoDelay(fd);
    auto* cl = new Client(fd);
    if (ss.ss_family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, cl->peer, sizeof cl->peer);
    else if (ss.ss_family == AF_INET6)
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, cl->peer, sizeof cl->peer);
    cl->last_ms = now_ms_;
    cl->accepted_ms = now_ms_;
    cl->index = clients_.size();
    clients_.push_back(cl);
    c_->accepted.fetch_add(1, std::memory_order_relaxed);
    c_->open_clients.fetch_add(1, std::memory_order_relaxed);
    Add(cl, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    cl->readable = true;  // data may already be queued
    cl->writable = true;
    Pump(cl);
  }
}

bool Worker::ShedOne() {
  // nginx/HAProxy practice: under a connection flood the ones that never sent
  // a request go first, then keep-alive connections between requests.
  Client* fresh = nullptr;  // no whole request head yet
  Client* idle = nullptr;   // between requests, nothing buffered either way
  for (Client* cl : clients_) {
    if (cl->dead || cl->state != Client::State::kHead) continue;
    if (!cl->head_seen) {
      if (!fresh || cl->accepted_ms < fresh->accepted_ms) fresh = cl;
    } else if (cl->in.empty() && cl->out.empty()) {
      if (!idle || cl->last_ms < idle->last_ms) idle = cl;
    }
  }
  Client* victim = fresh ? fresh : idle;
  c_->connections_shed.fetch_add(1, std::memory_order_relaxed);
  if (now_ms_ - last_shed_warn_ms_ >= 10'000) {
    last_shed_warn_ms_ = now_ms_;
    log::Warn("client connections at --max-connections: shedding",
              {{"per_thread_cap", std::to_string(o_.max_connections)},
               {"shed", victim ? (fresh ? "oldest without a request" : "oldest idle") : "the new connection"}});
  }
  if (!victim) return false;
  CloseClient(victim);
  return true;
}

void Worker::AcceptFailed(int err) {
  const int slot = err == EMFILE ? 0 : err == ENFILE ? 1 : 2;
  c_->accept_errors[slot].fetch_add(1, std::memory_order_relaxed);
  if (now_ms_ - last_accept_warn_ms_ >= 10'000) {
    last_accept_warn_ms_ = now_ms_;
    log::Warn("accept failed: pausing accepts for 100 ms", {{"error", std::strerror(err)}});
  }
  if (slot < 2 && spare_fd_ >= 0) {
    // Out of fds: give up the spare one to take a pending connection off the
    // queue and close it (the client learns at once), then take it back.
    ::close(spare_fd_);
    int fd = ::accept4(listener_->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      c_->connections_shed.fetch_add(1, std::memory_order_relaxed);
      ::close(fd);
    }
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  // Not spinning on a listener that stays readable: Scan resumes accepting.
  accept_paused_until_ms_ = now_ms_ + 100;
}

void Worker::Scan() {
  last_scan_ms_ = now_ms_;
  if (accept_paused_until_ms_ > 0 && now_ms_ >= accept_paused_until_ms_ && listener_->fd >= 0) {
    accept_paused_until_ms_ = 0;
    Accept();  // the listener is edge-triggered: drain what queued meanwhile
  }
  shard_.Flush(now_s_);
  ShipAggregates();
  for (size_t i = clients_.size(); i-- > 0;) {
    Client* cl = clients_[i];
    if (cl->dead) continue;
    int64_t idle = now_ms_ - cl->last_ms;
    switch (cl->state) {
      case Client::State::kHead:
        // Answers the client does not read (pipelining, back-pressure) count
        // as idle time, not as a slow head. A new connection gets the head
        // timeout for its first byte too (nginx client_header_timeout).
        if (!cl->head_seen && cl->in.empty() && cl->out.empty()) {
          if (now_ms_ - cl->accepted_ms >= o_.header_timeout_ms) CloseClient(cl);
        } else if (cl->in.empty() || !cl->out.empty() ? idle >= o_.client_idle_timeout_ms
                                               : now_ms_ - cl->head_start_ms >= o_.header_timeout_ms) {
          if (cl->in.empty() || !cl->out.empty())
            CloseClient(cl);
          else
            LocalError(cl, 408, "request head not received in time", false);
        }
        break;
      case Client::State::kExchange: {
        Upstream* u = cl->up;
        if (SlowBody(*cl, now_ms_, o_.body_timeout_ms, o_.min_body_rate)) {
          c_->slow_bodies.fetch_add(1, std::memory_order_relaxed);
          if (now_ms_ - last_slow_body_warn_ms_ >= 10'000) {
            last_slow_body_warn_ms_ = now_ms_;
            log::Warn("request body too slow: exchange cut", {{"peer", cl->peer}});
          }
          if (!cl->resp_started) {
            if (cl->up) ReleaseUpstream(cl, false);
            LocalError(cl, 408, "request body not received in time", false);
          } else {
            AbortExchange(cl);
          }
        } else if (u && u->connecting) {
          if (now_ms_ - u->last_ms >= o_.connect_timeout_ms) UpstreamFailed(cl, true, "connect timed out");
        } else if (u && now_ms_ - std::max(u->last_ms, cl->last_ms) >= o_.response_timeout_ms) {
          if (!cl->resp_started) {
            ReleaseUpstream(cl, false);
            LocalError(cl, 504, "the upstream did not answer in time", false);
          } else {
            AbortExchange(cl);
          }
        }
        break;
      }
      case Client::State::kTunnel:
        if (cl->up && now_ms_ - std::max(cl->last_ms, cl->up->last_ms) >= o_.tunnel_idle_timeout_ms) AbortExchange(cl);
        break;
      case Client::State::kClosing:
        if (idle >= 5000) CloseClient(cl);
        break;
    }
  }
  for (auto& [label, pool] : pools_) {
    for (size_t i = pool.idle.size(); i-- > 0;) {
      Upstream* u = pool.idle[i];
      if (now_ms_ - u->last_ms >= o_.upstream_idle_timeout_ms) {
        pool.idle.erase(pool.idle.begin() + static_cast<long>(i));
        c_->pooled_idle.fetch_sub(1, std::memory_order_relaxed);
        u->idle = false;
        Destroy(u);
      }
    }
  }
  FreeDead();
}

// ---------------------------------------------------------------- connections

void Worker::Destroy(Conn* c) {
  if (c->dead) return;
  c->dead = true;
  ::close(c->fd);  // also removes it from the epoll set
  dead_.push_back(c);
}

void Worker::FreeDead() {
  for (Conn* c : dead_) {
    if (c->kind == Conn::Kind::kClient)
      delete static_cast<Client*>(c);
    else
      delete static_cast<Upstream*>(c);
  }
  dead_.clear();
}

void Worker::CloseClient(Client* c) {
  if (c->dead) return;
  if (c->up) ReleaseUpstream(c, false);
  if (c->queued) {  // not in ready_ while its batch runs; freed only after the batch
    auto it = std::find(ready_.begin(), ready_.end(), c);
    if (it != ready_.end()) ready_.erase(it);
  }
  Client* last = clients_.back();
  clients_[c->index] = last;
  last->index = c->index;
  clients_.pop_back();
  c_->open_clients.fetch_sub(1, std::memory_order_relaxed);
  Destroy(c);
}

void Worker::RemoveIdle(Upstream* u) {
  auto& v = u->pool->idle;
  auto pos = std::find(v.begin(), v.end(), u);
  if (pos != v.end()) {
    v.erase(pos);
    c_->pooled_idle.fetch_sub(1, std::memory_order_relaxed);
  }
  u->idle = false;
}

void Worker::OnIdleUpstreamEvent(Upstream* u) {
  // An idle pooled connection has nothing to say: any event means it closed
  // (or misbehaved), so it leaves the pool.
  if (!u->readable) return;
  char buf[64];
  ssize_t n = ::recv(u->fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    u->readable = false;
    return;
  }
  if (n > 0) UpstreamMisbehaved(c_->unpooled_extra, u->label, "bytes on an idle pooled connection");
  RemoveIdle(u);
  Destroy(u);
}

void Worker::UpstreamMisbehaved(std::atomic<uint64_t>& counter, const std::string& label, const char* what) {
  counter.fetch_add(1, std::memory_order_relaxed);
  if (now_ms_ - last_upstream_warn_ms_ < 10'000) return;
  last_upstream_warn_ms_ = now_ms_;
  log::Warn("upstream connection closed", {{"instance", label}, {"why", what}});
}

void Worker::ReleaseUpstream(Client* c, bool reuse) {
  Upstream* u = c->up;
  if (!u) return;
  c->up = nullptr;
  u->client = nullptr;
  Pool& pool = *u->pool;
  if (pool.outstanding > 0) --pool.outstanding;
  if (reuse && u->readable) {
    // An edge may have been consumed with bytes still queued: an upstream
    // that says more than its response is not reusable.
    char probe;
    ssize_t n = ::recv(u->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      u->readable = false;
    } else {
      if (n > 0) UpstreamMisbehaved(c_->unpooled_extra, u->label, "bytes after a complete response");
      reuse = false;
    }
  }
  if (reuse && !stopping_.load(std::memory_order_relaxed) && static_cast<int>(pool.idle.size()) < o_.pool_per_instance &&
      u->in.empty() && !u->rdhup) {
    u->idle = true;
    u->reused = true;
    u->last_ms = now_ms_;
    pool.idle.push_back(u);
    c_->pooled_idle.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Destroy(u);
}

// ---------------------------------------------------------------- I/O helpers

// Reads what fits. Returns true if bytes arrived; `eof` on orderly close or error.
bool Worker::ReadInto(Conn* conn, IoBuf& buf, bool& eof) {
  eof = false;
  if (!conn->readable) return false;
  size_t room = buf.space();
  if (room == 0) return false;
  ssize_t n = ::recv(conn->fd, buf.write_ptr(), room, 0);
  if (n > 0) {
    buf.Commit(static_cast<size_t>(n));
    conn->read_bytes += static_cast<uint64_t>(n);
    // A short read drained the socket; edge-triggered epoll reports new data.
    // But once the peer has shut down no further edge comes: keep reading
    // until recv says 0, or the end of the stream would go unnoticed.
    if (static_cast<size_t>(n) < room && !conn->rdhup) conn->readable = false;
    conn->last_ms = now_ms_;
    return true;
  }
  if (n == 0) {
    eof = conn->eof = true;
    conn->readable = false;
    return false;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    conn->readable = false;
    return false;
  }
  if (errno == EINTR) return false;
  eof = conn->eof = true;
  conn->readable = false;
  return false;
}

// Writes c->out then `body`; returns true if anything was written.
bool Worker::FlushClient(Client* c, const char* body, size_t body_len, size_t& body_written) {
  body_written = 0;
  if (!c->writable) return false;
  size_t out_len = c->out.size() - c->out_off;
  if (out_len == 0 && body_len == 0) return false;
  iovec iov[2];
  int cnt = 0;
  if (out_len) iov[cnt++] = {c->out.data() + c->out_off, out_len};
  if (body_len) iov[cnt++] = {const_cast<char*>(body), body_len};
  ssize_t n = SendV(c->fd, iov, cnt);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->writable = false;
      return false;
    }
    if (errno == EINTR) return false;
    AbortExchange(c);
    return false;
  }
  size_t w = static_cast<size_t>(n);
  if (w < out_len + body_len) c->writable = false;
  size_t from_out = std::min(w, out_len);
  c->out_off += from_out;
  if (c->out_off == c->out.size()) {
    c->out.clear();
    c->out_off = 0;
  }
  body_written = w - from_out;
  c->last_ms = now_ms_;
  return w > 0;
}

}  // namespace skyport::router
