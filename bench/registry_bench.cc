// registry_bench: load generator for a running skyport-registry. Prints one
// line of JSON per run. Modes:
//   register --concurrency N --seconds S [--explicit-port]
//       N client threads, each on its own connection with its own lease, loop
//       Allocate+Register (or Register only, with ports the client picks).
//   fanout --watchers W --changes C
//       W Watch streams (own connections); once every one has its snapshot,
//       C Registers one at a time; latency = write issued -> event read by a
//       watcher, steady_clock in this process.
//   fill --count K --concurrency N
//       K Allocate+Register with never-expiring leases, as fast as N threads go.
//   allocate --host H --count K --concurrency N
//       K Allocates on one host (each its own instance), N threads with a
//       lease each; prints every port handed out, for collision checks
//       (tests/integration/test_registry_etcd.py runs two against two registries).
// Names carry a random run nonce, so runs against a non-empty registry do not
// collide with earlier ones. Hosts rotate every kPortsPerHost registrations so
// a host never runs out of ports in the default range 10000-20000.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_stats.h"
#include "bench/proc_rss.h"
#include "core/token.h"
#include "rpc/auth.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace {

namespace v1 = skyport::v1;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr uint32_t kPortsPerHost = 5000;
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

struct Options {
  std::string registry;
  std::string token_file;
  int concurrency = 8;
  double seconds = 5;
  double warmup = 1;
  bool explicit_port = false;
  int watchers = 100;
  int changes = 200;
  double change_timeout_s = 5;
  int count = 100000;
  int server_pid = 0;
  bool shared_connection = false;
  std::string host = "10.9.9.9";
};

// Every client gets its own TCP connection unless --shared-connection: gRPC
// would otherwise multiplex all channels with equal arguments onto one.
std::shared_ptr<grpc::Channel> NewChannel(const Options& o) {
  grpc::ChannelArguments args;
  if (!o.shared_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(o.registry, grpc::InsecureChannelCredentials(), args);
}

class Client {
 public:
  Client(const Options& o, const std::string& token) : stub_(v1::Registry::NewStub(NewChannel(o))), token_(token) {}

  // The first call on a new channel: it waits for the connection (within the deadline) instead
  // of failing at once when the first connect attempt fails (seen once under a loaded CI:
  // "failed to connect to all addresses", with the registry up and serving the other clients).
  grpc::Status Grant(uint32_t ttl, uint64_t* lease) {
    grpc::ClientContext ctx;
    Prepare(ctx);
    ctx.set_wait_for_ready(true);
    v1::GrantRequest req;
    req.set_ttl_seconds(ttl);
    v1::GrantResponse resp;
    auto s = stub_->Grant(&ctx, req, &resp);
    *lease = resp.lease_id();
    return s;
  }
  grpc::Status Allocate(const v1::AllocateRequest& req, uint32_t* port) {
    grpc::ClientContext ctx;
    Prepare(ctx);
    v1::AllocateResponse resp;
    auto s = stub_->Allocate(&ctx, req, &resp);
    *port = resp.port();
    return s;
  }
  grpc::Status Register(const v1::Endpoint& ep) {
    grpc::ClientContext ctx;
    Prepare(ctx);
    v1::RegisterRequest req;
    *req.mutable_endpoint() = ep;
    v1::RegisterResponse resp;
    return stub_->Register(&ctx, req, &resp);
  }
  // No deadline: the stream lives until the caller cancels `ctx`.
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> Watch(grpc::ClientContext& ctx) {
    skyport::rpc::AttachToken(ctx, token_);
    return stub_->Watch(&ctx, v1::WatchRequest{});
  }

 private:
  void Prepare(grpc::ClientContext& ctx) {
    skyport::rpc::AttachToken(ctx, token_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }
  std::unique_ptr<v1::Registry::Stub> stub_;
  std::string token_;
};

// Errors by gRPC code name, plus the first message seen (they say what broke).
class ErrorTally {
 public:
  void Add(const grpc::Status& s) {
    std::lock_guard lock(mu_);
    ++by_code_[std::to_string(static_cast<int>(s.error_code()))];
    if (first_.empty()) first_ = s.error_message();
    ++total_;
  }
  uint64_t total() const {
    std::lock_guard lock(mu_);
    return total_;
  }
  json ToJson() const {
    std::lock_guard lock(mu_);
    return {{"total", total_}, {"by_code", by_code_}, {"first", first_}};
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> by_code_;
  std::string first_;
  uint64_t total_ = 0;
};

std::string Nonce() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

// The k-th registration of client `t`: its own host per block of ports.
v1::Endpoint EndpointFor(const std::string& nonce, int t, uint64_t k, uint64_t lease) {
  v1::Endpoint ep;
  ep.set_app("bench");
  ep.set_commit(kCommit);
  ep.set_role("web");
  ep.set_instance(static_cast<uint32_t>(k));
  ep.set_host(fmt::format("r{}.t{}.h{}", nonce, t, k / kPortsPerHost));
  ep.set_port(static_cast<uint32_t>(10000 + k % kPortsPerHost));
  ep.set_lease_id(lease);
  return ep;
}

// One registration: Allocate then Register on the allocated port, or
// Register on the port EndpointFor picked.
grpc::Status RegisterOne(Client& c, v1::Endpoint ep, bool explicit_port) {
  if (!explicit_port) {
    v1::AllocateRequest a;
    a.set_host(ep.host());
    a.set_app(ep.app());
    a.set_commit(ep.commit());
    a.set_role(ep.role());
    a.set_instance(ep.instance());
    a.set_lease_id(ep.lease_id());
    uint32_t port = 0;
    if (auto s = c.Allocate(a, &port); !s.ok()) return s;
    ep.set_port(port);
  }
  return c.Register(ep);
}

using skyport::bench::LatencyJson;
using skyport::bench::Ms;
using skyport::bench::RssKb;

json RunRegister(const Options& o, const std::string& token) {
  const std::string nonce = Nonce();
  ErrorTally errors;
  auto tally = skyport::bench::TimedLoop(
      o.concurrency, o.warmup, o.seconds,
      [&](int t) -> skyport::bench::ClientOp {
        auto c = std::make_shared<Client>(o, token);
        uint64_t lease = 0;
        if (auto s = c->Grant(600, &lease); !s.ok()) {
          errors.Add(s);
          return {};
        }
        return [&, c, t, lease](uint64_t k) {
          auto s = RegisterOne(*c, EndpointFor(nonce, t, k, lease), o.explicit_port);
          if (!s.ok()) errors.Add(s);
          return s.ok();
        };
      },
      [&] { return errors.total() > 1000; });  // something is badly wrong; the report says what
  const uint64_t total = tally.ops;
  std::vector<double> all = std::move(tally.latency_ms);
  return {{"mode", "register"},
          {"system", "skyport"},
          {"variant", o.explicit_port ? "register-only" : "allocate+register"},
          {"concurrency", o.concurrency},
          {"seconds", o.seconds},
          {"registrations", total},
          {"per_sec", static_cast<double>(total) / o.seconds},
          {"rpcs_per_registration", o.explicit_port ? 1 : 2},
          {"latency", LatencyJson(std::move(all))},
          {"errors", errors.ToJson()}};
}

// Fan-out: change k is identified by its instance number.
class FanoutRun {
 public:
  FanoutRun(const Options& o, const std::string& token) : o_(o), token_(token), sent_ns_(o.changes) {
    for (auto& a : sent_ns_) a.store(0);
    received_.assign(static_cast<size_t>(o.changes), 0);
    last_at_.assign(static_cast<size_t>(o.changes), Clock::time_point{});
    samples_.resize(static_cast<size_t>(o.watchers));
  }

  json Run() {
    const std::string host = fmt::format("r{}.fan", Nonce());
    host_ = host;
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
    for (int w = 0; w < o_.watchers; ++w) ctxs.push_back(std::make_unique<grpc::ClientContext>());
    for (int w = 0; w < o_.watchers; ++w) threads.emplace_back([this, w, &ctxs] { Watcher(w, *ctxs[static_cast<size_t>(w)]); });
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return synced_ + failed_ >= o_.watchers; }))
        return Abort(threads, ctxs, "watchers did not all receive their snapshot within 30 s");
      if (failed_ > 0) return Abort(threads, ctxs, fmt::format("{} watch streams failed: {}", failed_, watch_error_));
    }
    Client writer(o_, token_);
    uint64_t lease = 0;
    if (auto s = writer.Grant(600, &lease); !s.ok())
      return Abort(threads, ctxs, "grant: " + s.error_message());
    std::vector<double> write_ms;
    std::vector<double> last_ms;  // per change: the slowest watcher
    uint64_t missing = 0;
    ErrorTally errors;
    const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.change_timeout_s));
    for (int k = 0; k < o_.changes; ++k) {
      v1::Endpoint ep;
      ep.set_app("fan");
      ep.set_commit(kCommit);
      ep.set_role("web");
      ep.set_instance(static_cast<uint32_t>(k));
      ep.set_host(host);
      ep.set_port(static_cast<uint32_t>(10000 + k));
      ep.set_lease_id(lease);
      auto t0 = Clock::now();
      sent_ns_[static_cast<size_t>(k)].store(t0.time_since_epoch().count(), std::memory_order_release);
      auto s = writer.Register(ep);
      write_ms.push_back(Ms(Clock::now() - t0));
      if (!s.ok()) {
        errors.Add(s);
        continue;
      }
      std::unique_lock lock(mu_);
      bool all = cv_.wait_until(lock, t0 + timeout, [&] { return received_[static_cast<size_t>(k)] >= o_.watchers; });
      if (all) last_ms.push_back(Ms(last_at_[static_cast<size_t>(k)] - t0));
      else missing += static_cast<uint64_t>(o_.watchers - received_[static_cast<size_t>(k)]);
    }
    for (auto& c : ctxs) c->TryCancel();
    for (auto& th : threads) th.join();
    skyport::bench::FanoutFigures f;
    for (auto& s : samples_) f.notify_ms.insert(f.notify_ms.end(), s.begin(), s.end());
    f.all_ms = std::move(last_ms);
    f.write_ms = std::move(write_ms);
    f.missing = missing;
    f.stream_drops = drops_.load();
    return skyport::bench::FanoutJson("skyport", o_.watchers, o_.changes, std::move(f), errors.ToJson());
  }

 private:
  void Watcher(int w, grpc::ClientContext& ctx) {
    Client c(o_, token_);
    auto reader = c.Watch(ctx);
    v1::WatchResponse msg;
    bool synced = false;
    auto& mine = samples_[static_cast<size_t>(w)];
    while (reader->Read(&msg)) {
      const auto now = Clock::now();
      if (msg.kind() == v1::WatchResponse::SNAPSHOT) {
        if (!msg.more() && !synced) {
          synced = true;
          std::lock_guard lock(mu_);
          ++synced_;
          cv_.notify_all();
        }
        continue;
      }
      for (const auto& e : msg.events()) {
        if (e.type() != v1::Event::ENDPOINT_PUT || e.endpoint().host() != host_) continue;
        const auto k = static_cast<size_t>(e.endpoint().instance());
        if (k >= sent_ns_.size()) continue;
        const int64_t sent = sent_ns_[k].load(std::memory_order_acquire);
        mine.push_back(Ms(now.time_since_epoch() - Clock::duration(sent)));
        std::lock_guard lock(mu_);
        last_at_[k] = std::max(last_at_[k], now);
        if (++received_[k] == o_.watchers) cv_.notify_all();
      }
    }
    grpc::Status s = reader->Finish();
    std::lock_guard lock(mu_);
    if (!synced) {
      ++failed_;
      if (watch_error_.empty()) watch_error_ = s.error_message();
      cv_.notify_all();
    } else if (s.error_code() != grpc::StatusCode::CANCELLED) {
      ++drops_;  // the server ended a stream mid-run
    }
  }

  json Abort(std::vector<std::thread>& threads, std::vector<std::unique_ptr<grpc::ClientContext>>& ctxs,
             const std::string& why) {
    for (auto& c : ctxs) c->TryCancel();
    for (auto& th : threads) th.join();
    return {{"mode", "fanout"}, {"system", "skyport"}, {"error", why}};
  }

  const Options& o_;
  std::string token_;
  std::string host_;
  std::vector<std::atomic<int64_t>> sent_ns_;
  std::vector<std::vector<double>> samples_;  // per watcher, its own thread only
  std::atomic<uint64_t> drops_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> received_;               // guarded by mu_
  std::vector<Clock::time_point> last_at_;  // guarded by mu_: latest receipt per change
  int synced_ = 0;                           // guarded by mu_
  int failed_ = 0;                           // guarded by mu_
  std::string watch_error_;                  // guarded by mu_
};

json RunFill(const Options& o, const std::string& token) {
  const std::string nonce = Nonce();
  ErrorTally errors;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      Client c(o, token);
      uint64_t lease = 0;
      if (auto s = c.Grant(0, &lease); !s.ok()) return errors.Add(s);
      uint64_t k = 0;  // this thread's own sequence: hosts and ports per thread
      while (next.fetch_add(1) < o.count) {
        for (int attempt = 0;; ++attempt) {
          auto s = RegisterOne(c, EndpointFor(nonce, t, k++, lease), o.explicit_port);
          if (s.ok()) {
            done++;
            break;
          }
          errors.Add(s);
          if (attempt >= 3 || errors.total() > 1000) return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  json out = {{"mode", "fill"},
              {"system", "skyport"},
              {"variant", o.explicit_port ? "register-only" : "allocate+register"},
              {"concurrency", o.concurrency},
              {"count", o.count},
              {"registered", done.load()},
              {"seconds", secs},
              {"per_sec", static_cast<double>(done.load()) / secs},
              {"errors", errors.ToJson()}};
  if (o.server_pid > 0) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // let the last batch settle
    out["rss_after_kb"] = RssKb(o.server_pid);
  }
  return out;
}

json RunAllocate(const Options& o, const std::string& token) {
  const std::string nonce = Nonce();
  ErrorTally errors;
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::vector<uint32_t> ports;  // guarded by mu
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&] {
      Client c(o, token);
      uint64_t lease = 0;
      if (auto s = c.Grant(60, &lease); !s.ok()) return errors.Add(s);
      for (int64_t i; (i = next.fetch_add(1)) < o.count;) {
        v1::AllocateRequest req;
        req.set_host(o.host);
        req.set_app("alloc-" + nonce);
        req.set_commit(kCommit);
        req.set_role("http");
        req.set_instance(static_cast<uint32_t>(i));
        req.set_lease_id(lease);
        uint32_t port = 0;
        if (auto s = c.Allocate(req, &port); !s.ok()) {
          errors.Add(s);
          if (errors.total() > 1000) return;
          continue;
        }
        std::lock_guard lock(mu);
        ports.push_back(port);
      }
    });
  }
  for (auto& th : threads) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  return {{"mode", "allocate"}, {"host", o.host},   {"count", o.count},         {"allocated", ports.size()},
          {"seconds", secs},    {"ports", ports}, {"errors", errors.ToJson()}};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"registry_bench: load generator for a running skyport-registry (prints one JSON line)"};
  app.add_option("--registry", o.registry, "HOST:PORT of the registry")->required();
  app.add_option("--token-file", o.token_file, "File holding the cluster token (else env SKYPORT_TOKEN)");
  app.add_flag("--shared-connection", o.shared_connection, "All clients share one HTTP/2 connection");
  app.require_subcommand(1);
  auto* reg = app.add_subcommand("register", "N clients loop Allocate+Register; registrations/s");
  reg->add_option("--concurrency", o.concurrency, "Client threads")->capture_default_str();
  reg->add_option("--seconds", o.seconds, "Measured seconds")->capture_default_str();
  reg->add_option("--warmup", o.warmup, "Seconds run before measuring")->capture_default_str();
  reg->add_flag("--explicit-port", o.explicit_port, "Register only, on ports the client picks (no Allocate)");
  auto* fan = app.add_subcommand("fanout", "W watchers, C changes one at a time; notify latency");
  fan->add_option("--watchers", o.watchers, "Watch streams")->capture_default_str();
  fan->add_option("--changes", o.changes, "Registers, one at a time")->capture_default_str();
  fan->add_option("--change-timeout", o.change_timeout_s, "Seconds to wait for every watcher")->capture_default_str();
  auto* fill = app.add_subcommand("fill", "Register K endpoints with N clients; optional server RSS");
  fill->add_option("--count", o.count, "Endpoints to register")->capture_default_str();
  fill->add_option("--concurrency", o.concurrency, "Client threads")->capture_default_str();
  fill->add_option("--server-pid", o.server_pid, "Read this process's VmRSS 1 s after the fill");
  fill->add_flag("--explicit-port", o.explicit_port, "Register only, on ports the client picks (no Allocate)");
  auto* alloc = app.add_subcommand("allocate", "K Allocates on one host by N clients; every port handed out");
  alloc->add_option("--host", o.host, "The host whose ports are allocated")->capture_default_str();
  alloc->add_option("--count", o.count, "Allocations")->capture_default_str();
  alloc->add_option("--concurrency", o.concurrency, "Client threads, a lease each")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const char* env = std::getenv("SKYPORT_TOKEN");
  auto token = skyport::LoadToken(o.token_file, env ? env : "");
  if (!token.ok()) {
    fmt::print(stderr, "registry_bench: {}\n", token.status().message());
    return 2;
  }
  json out;
  if (reg->parsed()) out = RunRegister(o, *token);
  else if (fan->parsed()) out = FanoutRun(o, *token).Run();
  else if (alloc->parsed()) out = RunAllocate(o, *token);
  else out = RunFill(o, *token);
  std::printf("%s\n", out.dump().c_str());
  return out.contains("error") ? 1 : 0;
}
