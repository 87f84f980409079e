// router_propagation: how long from a registry change to a router routing by
// it. Runs a tiny keep-alive HTTP backend itself, then CHANGES times:
// registers a new commit of app APP (default "prop") pointing at the backend
// (the newest commit takes all traffic when no split is set), and polls the
// router on one keep-alive connection until a response carries
// X-Skyport-Commit of the new commit; latency = just before Register is sent
// -> that response read. Then the previous commit is deregistered. Prints one
// JSON line.
//
// With --fill N it first registers N endpoints (app "fill", one commit, hosts
// from --fill-hosts given by name, explicit ports 1024..65535 per host, one
// lease without expiry, --fill-concurrency clients on their own connections)
// and, with --admin, measures how long after the last acknowledged write the
// router's table reaches that write's revision (polling the admin /metrics
// every 2 ms). --fill-only stops there (the endpoints stay; the integration
// test uses it). --router-pid adds the router's RSS after the fill and after
// the changes.
//
//   router_propagation --registry 127.0.0.1:6000 --router 127.0.0.1:8080
//       --token-file FILE --changes 200 [--fill 100000 --fill-hosts localhost,vm
//       --admin 127.0.0.1:6003 --router-pid PID]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>
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
#include "core/latency_histogram.h"
#include "bench/proc_rss.h"
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
std::string Probe(int fd, const std::string& req) {
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) < 0) return "!";
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

using skyport::bench::RssKb;

// The router's table revision from its admin /metrics; -1 if unreadable.
int64_t RouterRevision(const std::string& admin, const std::string& token) {
  auto r = skyport::AdminGet(admin, "/metrics", token, 2000);
  if (!r.ok() || r->status != 200) return -1;
  static const std::string kName = "\nskyport_router_table_revision ";
  auto p = r->body.find(kName);
  if (p == std::string::npos) return -1;
  return std::stoll(r->body.substr(p + kName.size()));
}

// The router's skyport_router_watch_apply_seconds buckets (not cumulative),
// from its admin /metrics; empty if unreadable.
std::vector<uint64_t> ApplyBuckets(const std::string& admin, const std::string& token) {
  auto r = skyport::AdminGet(admin, "/metrics", token, 2000);
  if (!r.ok() || r->status != 200) return {};
  std::vector<uint64_t> cumulative;
  std::stringstream in(r->body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("skyport_router_watch_apply_seconds_bucket{", 0) == 0)
      cumulative.push_back(std::stoull(line.substr(line.rfind(' ') + 1)));
  for (size_t i = cumulative.size(); i-- > 1;) cumulative[i] -= cumulative[i - 1];
  return cumulative;
}

struct FillOptions {
  int count = 0;
  int concurrency = 32;
  std::vector<std::string> hosts{"localhost"};
  std::string app = "fill";
  int skip_port = 0;  // the backend's port: never registered by the fill
};

struct FillResult {
  int64_t registered = 0;
  int64_t errors = 0;
  std::string first_error;
  int64_t max_revision = 0;
  Clock::time_point t0, last_ack;
  uint64_t lease = 0;
};

// N endpoints, as fast as `concurrency` clients go (Register only, explicit
// ports: host i takes endpoints [i*P, (i+1)*P) with P ports 1024..65535).
FillResult Fill(const std::string& registry, const std::string& token, const FillOptions& f) {
  FillResult out;
  auto stub0 = v1::Registry::NewStub(grpc::CreateChannel(registry, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    skyport::rpc::AttachToken(ctx, token);
    v1::GrantRequest g;  // ttl 0: never expires; the entries stay after the tool exits
    v1::GrantResponse gr;
    if (auto st = stub0->Grant(&ctx, g, &gr); !st.ok()) {
      out.errors = 1;
      out.first_error = "Grant: " + st.error_message();
      return out;
    }
    out.lease = gr.lease_id();
  }
  const int per_host = 65535 - 1024 - (f.skip_port >= 1024 ? 1 : 0) + 1;
  if (static_cast<int64_t>(per_host) * static_cast<int64_t>(f.hosts.size()) < f.count) {
    out.errors = 1;
    out.first_error = fmt::format("--fill {} needs more --fill-hosts ({} ports each)", f.count, per_host);
    return out;
  }
  std::atomic<int64_t> next{0};
  std::mutex mu;
  out.t0 = Clock::now();
  out.last_ack = out.t0;
  std::vector<std::thread> threads;
  for (int t = 0; t < f.concurrency; ++t)
    threads.emplace_back([&] {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per client
      auto stub = v1::Registry::NewStub(grpc::CreateCustomChannel(registry, grpc::InsecureChannelCredentials(), args));
      int64_t k;
      while ((k = next.fetch_add(1)) < f.count) {
        v1::RegisterRequest rr;
        auto* ep = rr.mutable_endpoint();
        ep->set_app(f.app);
        ep->set_commit("f111111111111111111111111111111111111111");
        ep->set_role("web");
        ep->set_instance(static_cast<uint32_t>(k));
        ep->set_host(f.hosts[static_cast<size_t>(k / per_host)]);
        int port = 1024 + static_cast<int>(k % per_host);
        if (f.skip_port >= 1024 && port >= f.skip_port) ++port;
        ep->set_port(static_cast<uint32_t>(port));
        ep->set_lease_id(out.lease);
        v1::RegisterResponse resp;
        grpc::ClientContext ctx;
        skyport::rpc::AttachToken(ctx, token);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        grpc::Status st = stub->Register(&ctx, rr, &resp);
        std::lock_guard lock(mu);
        if (!st.ok()) {
          if (out.errors++ == 0) out.first_error = st.error_message();
          continue;
        }
        ++out.registered;
        out.max_revision = std::max(out.max_revision, resp.revision());
        out.last_ack = std::max(out.last_ack, Clock::now());
      }
    });
  for (auto& th : threads) th.join();
  return out;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
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
  std::string probe_app = "prop", probe_host = "127.0.0.1", admin, fill_hosts = "localhost";
  FillOptions fill;
  bool fill_only = false;
  int router_pid = 0;
  app.add_option("--app", probe_app, "app whose commits the changes register");
  app.add_option("--host", probe_host, "host the changes register (the backend listens on 127.0.0.1)");
  app.add_option("--admin", admin, "router admin HOST:PORT: wait for its table revision after the fill");
  app.add_option("--fill", fill.count, "register this many endpoints first");
  app.add_option("--fill-hosts", fill_hosts, "comma-separated host names the fill registers (64512 ports each)");
  app.add_option("--fill-concurrency", fill.concurrency, "fill clients");
  app.add_option("--fill-app", fill.app, "app of the fill's endpoints");
  app.add_option("--skip-port", fill.skip_port, "a port the fill never registers (default: the backend's)");
  app.add_flag("--fill-only", fill_only, "fill (and wait for the router with --admin), print, exit");
  app.add_option("--router-pid", router_pid, "report this process's RSS");
  bool revoke_fill = false;
  app.add_flag("--revoke-fill", revoke_fill,
               "after the changes, revoke the fill's lease (all its endpoints go in one revision) and time the "
               "router catching up (with --admin)");
  CLI11_PARSE(app, argc, argv);
  fill.hosts = SplitList(fill_hosts);
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
  auto finish = [&](int code) {
    stop = true;
    ::shutdown(lfd, SHUT_RDWR);
    ::close(lfd);
    backend.join();
    return code;
  };

  nlohmann::json out = {{"mode", "propagation"}};
  if (fill.count > 0) {
    if (fill.skip_port == 0) fill.skip_port = bport;
    FillResult fr = Fill(registry, *token, fill);
    const double fill_s = std::chrono::duration<double>(fr.last_ack - fr.t0).count();
    nlohmann::json fj = {{"count", fill.count},       {"registered", fr.registered},   {"errors", fr.errors},
                         {"first_error", fr.first_error}, {"seconds", fill_s},
                         {"per_sec", fill_s > 0 ? static_cast<double>(fr.registered) / fill_s : 0.0},
                         {"last_revision", fr.max_revision}, {"lease", fr.lease}};
    if (!admin.empty() && fr.registered > 0) {
      // Current = the router's table has the revision of the last write acknowledged.
      int64_t seen = -1;
      const auto deadline = Clock::now() + std::chrono::seconds(120);
      while ((seen = RouterRevision(admin, *token)) < fr.max_revision && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const double lag_ms = std::chrono::duration<double, std::milli>(Clock::now() - fr.last_ack).count();
      fj["router_revision"] = seen;
      fj["router_current"] = seen >= fr.max_revision;
      fj["router_current_after_last_write_ms"] = lag_ms;
    }
    if (router_pid > 0) fj["router_rss_kb"] = RssKb(router_pid);
    out["fill"] = fj;
    if (fr.errors > 0 || (fj.contains("router_current") && !fj["router_current"].get<bool>())) {
      std::printf("%s\n", out.dump().c_str());
      return finish(1);
    }
  }
  if (fill_only) {
    std::printf("%s\n", out.dump().c_str());
    return finish(0);
  }

  v1::GrantRequest g;
  g.set_ttl_seconds(60);  // the run takes seconds; no keep-alive needed
  v1::GrantResponse gr;
  if (!call([&](grpc::ClientContext& c) { return stub->Grant(&c, g, &gr); }).ok()) {
    std::fprintf(stderr, "Grant failed\n");
    return finish(1);
  }
  int fd = Connect(rhp->first, rhp->second);
  if (fd < 0) {
    std::fprintf(stderr, "cannot connect to the router\n");
    return finish(1);
  }
  const std::vector<uint64_t> apply_before = admin.empty() ? std::vector<uint64_t>{} : ApplyBuckets(admin, *token);
  const std::string probe_req = fmt::format(
      "GET / HTTP/1.1\r\nHost: {}.localhost\r\nCookie: skyport=0123456789abcdef0123456789abcdef.default\r\n\r\n",
      probe_app);
  std::vector<double> lat_ms;
  std::vector<double> reg_ms;  // the Register round trip alone: the registry's share of each change
  uint64_t prev_id = 0;
  int probes = 0, failures = 0;
  for (int i = 0; i < changes; ++i) {
    std::string commit = fmt::format("{:08x}{:032x}", static_cast<uint32_t>(::getpid()), static_cast<uint64_t>(i + 1));
    v1::RegisterRequest rr;
    auto* ep = rr.mutable_endpoint();
    ep->set_app(probe_app);
    ep->set_commit(commit);
    ep->set_role("web");
    ep->set_host(probe_host);
    ep->set_port(static_cast<uint32_t>(bport));
    ep->set_lease_id(gr.lease_id());
    v1::RegisterResponse resp;
    auto t0 = Clock::now();
    if (auto st = call([&](grpc::ClientContext& c) { return stub->Register(&c, rr, &resp); }); !st.ok()) {
      std::fprintf(stderr, "Register failed: %s\n", st.error_message().c_str());
      return finish(1);
    }
    reg_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    bool seen = false;
    while (Clock::now() - t0 < std::chrono::duration<double>(timeout_s)) {
      ++probes;
      std::string got = Probe(fd, probe_req);
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
  out["changes"] = changes;
  out["seen"] = lat_ms.size();
  out["failures"] = failures;
  out["probes"] = probes;
  out["p50_ms"] = q(0.50);
  out["p90_ms"] = q(0.90);
  out["p99_ms"] = q(0.99);
  out["max_ms"] = lat_ms.empty() ? 0.0 : lat_ms.back();
  std::sort(reg_ms.begin(), reg_ms.end());
  auto rq = [&](double p) {
    return reg_ms.empty() ? 0.0 : reg_ms[std::min(reg_ms.size() - 1, static_cast<size_t>(p * reg_ms.size()))];
  };
  out["register_p50_ms"] = rq(0.50);
  out["register_p99_ms"] = rq(0.99);
  if (!admin.empty()) {
    // The router's own share: batch taken -> table published, for the tables of the changes
    // (estimated from the histogram's buckets, as Prometheus' histogram_quantile does).
    std::vector<uint64_t> apply = ApplyBuckets(admin, *token);
    for (size_t i = 0; i < apply.size() && i < apply_before.size(); ++i) apply[i] -= apply_before[i];
    out["router_apply_p50_ms"] = skyport::LatencyQuantileUs(apply, 0.50) / 1000;
    out["router_apply_p99_ms"] = skyport::LatencyQuantileUs(apply, 0.99) / 1000;
  }
  if (router_pid > 0) out["router_rss_kb_after_changes"] = RssKb(router_pid);
  if (revoke_fill && out.contains("fill")) {
    v1::RevokeRequest fr;
    fr.set_lease_id(out["fill"]["lease"].get<uint64_t>());
    v1::RevokeResponse frr;
    if (call([&](grpc::ClientContext& c) { return stub->Revoke(&c, fr, &frr); }).ok()) {
      const auto acked = Clock::now();
      int64_t seen = -1;
      const auto deadline = acked + std::chrono::seconds(60);
      while (!admin.empty() && (seen = RouterRevision(admin, *token)) < frr.revision() && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      out["revoke"] = {{"removed", frr.removed()},
                       {"router_current_after_ms", std::chrono::duration<double, std::milli>(Clock::now() - acked).count()},
                       {"router_current", seen >= frr.revision()}};
    } else {
      out["revoke"] = {{"error", "Revoke failed"}};
    }
  }
  std::printf("%s\n", out.dump().c_str());
  ::close(fd);
  return finish(failures ? 1 : 0);
}
