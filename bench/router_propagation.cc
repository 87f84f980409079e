// router_propagation: how long from a registry change to a router routing by
// it. Runs a tiny keep-alive HTTP backend itself, then CHANGES times:
// registers a new commit of app "prop" pointing at the backend (the newest
// commit takes all traffic when no split is set), and polls the router on one
// keep-alive connection until a response carries X-Skyport-Commit of the new
// commit; latency = just before Register is sent -> that response read.
// Then the previous commit is deregistered. Prints one JSON line.
//
//   router_propagation --registry 127.0.0.1:6000 --router 127.0.0.1:8080
//       --token-file FILE --changes 200
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http_admin.h"
#include "core/token.h"
#include "rpc/auth.h"
#include "rpc/channel.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace {

namespace v1 = skyport::v1;
using Clock = std::chrono::steady_clock;

int Listen(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) return -1;
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Answers every request on a connection with a fixed 200 (keep-alive).
void Backend(int lfd, std::atomic<bool>* stop) {
  std::vector<std::thread> conns;
  while (!*stop) {
    int c = ::accept(lfd, nullptr, nullptr);
    if (c < 0) break;
    conns.emplace_back([c] {
      std::string buf;
      char tmp[4096];
      for (;;) {
        ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
        if (n <= 0) break;
        buf.append(tmp, static_cast<size_t>(n));
        size_t end;
        while ((end = buf.find("\r\n\r\n")) != std::string::npos) {
          buf.erase(0, end + 4);
          static const char kResp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
          if (::send(c, kResp, sizeof kResp - 1, MSG_NOSIGNAL) < 0) break;
        }
      }
      ::close(c);
    });
  }
  for (auto& t : conns) t.detach();
}

int Connect(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// One GET; returns the X-Skyport-Commit value ("" if none / error).
std::string Probe(int fd) {
  static const char kReq[] = "GET / HTTP/1.1\r\nHost: prop.localhost\r\nCookie: skyport=0123456789abcdef0123456789abcdef.default\r\n\r\n";
  if (::send(fd, kReq, sizeof kReq - 1, MSG_NOSIGNAL) < 0) return "!";
  std::string buf;
  char tmp[4096];
  size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return "!";
    buf.append(tmp, static_cast<size_t>(n));
    head_end = buf.find("\r\n\r\n");
  }
  std::string head = buf.substr(0, head_end);
  size_t len = 0;
  if (auto p = head.find("Content-Length: "); p != std::string::npos) len = std::stoul(head.substr(p + 16));
  while (buf.size() < head_end + 4 + len) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return "!";
    buf.append(tmp, static_cast<size_t>(n));
  }
  auto p = head.find("X-Skyport-Commit: ");
  if (p == std::string::npos) return "";
  auto e = head.find("\r\n", p);
  return head.substr(p + 18, e == std::string::npos ? std::string::npos : e - p - 18);
}

}  // namespace

int main(int argc, char** argv) {
  std::string registry, router, token_file;
  int changes = 200;
  double timeout_s = 5;
  CLI::App app{"router_propagation: registry change -> router routes by it, latency"};
  app.add_option("--registry", registry)->required();
  app.add_option("--router", router, "router traffic HOST:PORT")->required();
  app.add_option("--token-file", token_file)->required();
  app.add_option("--changes", changes);
  app.add_option("--timeout", timeout_s, "seconds to wait for one change");
  CLI11_PARSE(app, argc, argv);
  auto token = skyport::LoadToken(token_file, "");
  auto rhp = skyport::SplitHostPort(router);
  if (!token.ok() || !rhp.ok()) {
    std::fprintf(stderr, "bad --token-file or --router\n");
    return 2;
  }
  // rpc::Dial: the daemons' reconnect settings (bounded backoff), not gRPC's default of up to 120 s.
  auto channel = skyport::rpc::Dial(registry, skyport::rpc::TlsFiles{});
  if (!channel.ok()) {
    std::fprintf(stderr, "dial %s: %s\n", registry.c_str(), channel.status().message().c_str());
    return 2;
  }
  auto stub = v1::Registry::NewStub(*channel);
  auto call = [&](auto fn) {
    grpc::ClientContext ctx;
    skyport::rpc::AttachToken(ctx, *token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return fn(ctx);
  };

  int bport = 0;
  int lfd = Listen(bport);
  std::atomic<bool> stop{false};
  std::thread backend(Backend, lfd, &stop);

  v1::GrantRequest g;
  g.set_ttl_seconds(60);  // the run takes seconds; no keep-alive needed
  v1::GrantResponse gr;
  if (!call([&](grpc::ClientContext& c) { return stub->Grant(&c, g, &gr); }).ok()) {
    std::fprintf(stderr, "Grant failed\n");
    return 1;
  }
  int fd = Connect(rhp->first, rhp->second);
  if (fd < 0) {
    std::fprintf(stderr, "cannot connect to the router\n");
    return 1;
  }
  std::vector<double> lat_ms;
  uint64_t prev_id = 0;
  int probes = 0, failures = 0;
  for (int i = 0; i < changes; ++i) {
    std::string commit = fmt::format("{:08x}{:032x}", static_cast<uint32_t>(::getpid()), static_cast<uint64_t>(i + 1));
    v1::RegisterRequest rr;
    auto* ep = rr.mutable_endpoint();
    ep->set_app("prop");
    ep->set_commit(commit);
    ep->set_role("web");
    ep->set_host("127.0.0.1");
    ep->set_port(static_cast<uint32_t>(bport));
    ep->set_lease_id(gr.lease_id());
    v1::RegisterResponse resp;
    auto t0 = Clock::now();
    if (auto st = call([&](grpc::ClientContext& c) { return stub->Register(&c, rr, &resp); }); !st.ok()) {
      std::fprintf(stderr, "Register failed: %s\n", st.error_message().c_str());
      stop = true;
      ::shutdown(lfd, SHUT_RDWR);
      backend.join();
      return 1;
    }
    bool seen = false;
    while (Clock::now() - t0 < std::chrono::duration<double>(timeout_s)) {
      ++probes;
      std::string got = Probe(fd);
      if (got == "!") {
        ::close(fd);
        fd = Connect(rhp->first, rhp->second);
        continue;
      }
      if (got == commit) {
        seen = true;
        break;
      }
    }
    if (seen)
      lat_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    else
      ++failures;
    if (prev_id) {
      v1::DeregisterRequest d;
      d.set_id(prev_id);
      v1::DeregisterResponse dr;
      call([&](grpc::ClientContext& c) { return stub->Deregister(&c, d, &dr); });
    }
    prev_id = resp.id();
  }
  v1::RevokeRequest rv;
  rv.set_lease_id(gr.lease_id());
  v1::RevokeResponse rvr;
  call([&](grpc::ClientContext& c) { return stub->Revoke(&c, rv, &rvr); });
  std::sort(lat_ms.begin(), lat_ms.end());
  auto q = [&](double p) { return lat_ms.empty() ? 0.0 : lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(p * lat_ms.size()))]; };
  nlohmann::json out = {{"mode", "propagation"}, {"changes", changes}, {"seen", lat_ms.size()}, {"failures", failures},
                        {"probes", probes},      {"p50_ms", q(0.50)},  {"p90_ms", q(0.90)},     {"p99_ms", q(0.99)},
                        {"max_ms", lat_ms.empty() ? 0.0 : lat_ms.back()}};
  std::printf("%s\n", out.dump().c_str());
  stop = true;
  ::shutdown(lfd, SHUT_RDWR);
  ::close(lfd);
  backend.join();
  ::close(fd);
  return failures ? 1 : 0;
}
