#include "drone/readiness.h"

#include <poll.h>

#include <cerrno>

#include <fmt/format.h>

#include "core/clock.h"

namespace skyport::drone {

std::unique_ptr<ReadyProbe> ReadyProbe::Begin(const std::string& host, uint32_t port, std::string path) {
  std::unique_ptr<ReadyProbe> p(new ReadyProbe());
  p->host_ = host;
  HttpCall call;
  call.host = host;
  call.port = port;
  p->tcp_only_ = path.empty();
  if (!p->tcp_only_) {
    if (path.front() != '/') path.insert(path.begin(), '/');
    call.target = std::move(path);
    call.host_header = HostHeader(host, port);
    call.headers = {{"User-Agent", "skyport-drone"}, {"Connection", "close"}};
  }
  p->exchange_ = HttpExchange::Begin(call, p->tcp_only_ ? HttpUntil::kConnected : HttpUntil::kStatusLine);
  p->Judge();
  return p;
}

void ReadyProbe::OnEvents(short revents) {
  if (state_ != ProbeState::kPending) return;
  exchange_->OnEvents(revents);
  Judge();
}

void ReadyProbe::Judge() {
  switch (exchange_->state()) {
    case HttpExchange::State::kPending:
      return;
    case HttpExchange::State::kDone: {
      if (tcp_only_) {
        state_ = ProbeState::kReady;
        return;
      }
      const int code = ParseHttpStatus(exchange_->received());
      state_ = code >= 200 && code < 400 ? ProbeState::kReady : ProbeState::kNotReady;
      if (state_ == ProbeState::kNotReady) error_ = fmt::format("health check answered {}", code);
      return;
    }
    case HttpExchange::State::kFailed:
      break;
  }
  state_ = ProbeState::kNotReady;
  const HttpFailure& f = exchange_->failure();
  using Kind = HttpFailure::Kind;
  if (f.kind == Kind::kNotHttp)
    error_ = "health check: not an HTTP response";
  else if (f.kind == Kind::kClosed)
    error_ = "health check: connection closed before a status line";
  else if (f.stage == HttpStage::kResolve)
    error_ = fmt::format("resolve {}: {}", host_, f.detail);
  else
    error_ = fmt::format("{}: {}", f.stage == HttpStage::kRead ? "recv" : HttpStageName(f.stage), f.detail);
}

bool CheckReady(const std::string& host, uint32_t port, const std::string& health_path, int timeout_ms) {
  const int64_t deadline = MonoNowMs() + timeout_ms;
  auto probe = ReadyProbe::Begin(host, port, health_path);
  while (probe->state() == ProbeState::kPending) {
    int64_t left = deadline - MonoNowMs();
    if (left <= 0) return false;
    pollfd p{probe->fd(), probe->events(), 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno != EINTR) return false;
    if (rc > 0) probe->OnEvents(p.revents);
  }
  return probe->state() == ProbeState::kReady;
}

}  // namespace skyport::drone
