// The accept loop of the hub's HTTP listeners (git push: hub/git/git_http.cc;
// the console: hub/console/console_server.cc), on Asio coroutines. Include it
// after <utility> (Boost 1.74's awaitable.hpp needs std::exchange in C++20).
#pragma once

#include <fcntl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/log.h"
#include "core/log_limiter.h"

namespace skyport::hub {

// Children the hub spawns (git, apps' release steps) must not hold its sockets.
inline void SetCloexec(int fd) { ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC); }

// Accepts on `acceptor` until it is closed (operation_aborted). Each accepted
// connection is made close-on-exec, then `admit(peer)` decides (false: closed
// at once, before a byte is read, like nginx limit_conn / HAProxy maxconn; the
// caller counts and logs the refusal) and `serve(socket, peer)` takes it.
// An accept error (out of descriptors or buffers) would repeat at line rate if
// accepted again at once: it is counted in `errors`, logged at most every 10 s
// ("<what> accept failed") and followed by a 100 ms pause.
template <class Admit, class Serve>
boost::asio::awaitable<void> AcceptLoop(boost::asio::ip::tcp::acceptor& acceptor, const char* what,
                                        std::atomic<uint64_t>& errors, Admit admit, Serve serve) {
  namespace asio = boost::asio;
  LogLimiter log;
  for (;;) {
    boost::system::error_code ec;
    asio::ip::tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      errors.fetch_add(1, std::memory_order_relaxed);
      if (uint64_t held = 0; log.Allow(MonoNowMs(), &held))
        log::Warn(std::string(what) + " accept failed; pausing 100 ms",
                  {{"error", ec.message()}, {"suppressed_since_last", held}});
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    SetCloexec(sock.native_handle());
    boost::system::error_code pec;
    auto remote = sock.remote_endpoint(pec);
    if (pec) continue;  // already gone
    std::string peer = remote.address().to_string();
    if (!admit(peer)) {
      sock.close(pec);
      continue;
    }
    serve(std::move(sock), std::move(peer));
  }
}

}  // namespace skyport::hub
