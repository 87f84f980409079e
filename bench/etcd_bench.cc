// etcd_bench: etcd's own floor under the load shapes of registry_bench, through
// Skyport's etcd client (proto/rpc/etcd_client.h), so that a registry on etcd
// is compared with what etcd itself does on the same cluster. One JSON line per
// run, in registry_bench's shape. Modes:
//   put --concurrency N --seconds S
//       N client threads, each with its own client (own connections), loop one
//       Put of an endpoint-sized value under a key of its own.
//   txn --concurrency N --seconds S
//       The same loop with the registry's own write instead of a Put: the
//       one-trip Register Txn (registry/etcd_plans.h OneTripRegisterTxn: 3
//       compares, 2 Puts attached to a lease), so that the cost of the Txn's
//       shape is told apart from the cost of the registry's hop.
//   fanout --watchers W --changes C
//       W watches (each its own client) on one prefix; once every one has seen
//       a first key, C Puts one at a time; latency = Put issued -> event seen
//       by a watcher (steady_clock in this process).
// Keys are under /skyport-bench/<nonce>/ and deleted at the end.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_stats.h"
#include "registry/etcd_keys.h"
#include "registry/etcd_plans.h"
#include "rpc/etcd_client.h"
#include "rpc/etcd_options.h"
#include "skyport/v1/registry.pb.h"

namespace {

namespace etcd = skyport::etcd;
namespace epb = etcdserverpb;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using skyport::bench::LatencyJson;
using skyport::bench::Ms;

struct Options {
  std::string endpoints;
  int concurrency = 8;
  double seconds = 5;
  double warmup = 1;
  int watchers = 100;
  int changes = 200;
  double change_timeout_s = 5;
  bool txn = false;  // the registry's Register Txn instead of a Put
};

std::string Nonce() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

// What a registry on etcd stores per endpoint: a serialized v1::Endpoint.
std::string EndpointValue(int t, uint64_t k) {
  skyport::v1::Endpoint ep;
  ep.set_id(k + 1);
  ep.set_app("bench");
  ep.set_commit("0123456789abcdef0123456789abcdef01234567");
  ep.set_role("web");
  ep.set_instance(static_cast<uint32_t>(k));
  ep.set_host(fmt::format("t{}.h{}", t, k / 5000));
  ep.set_port(static_cast<uint32_t>(10000 + k % 5000));
  ep.set_lease_id(1);
  return ep.SerializeAsString();
}

skyport::Result<std::shared_ptr<etcd::Client>> NewClient(const Options& o) {
  etcd::Options eo;
  eo.endpoints = etcd::SplitList(o.endpoints);
  return etcd::Client::Create(eo);
}

epb::PutRequest PutOf(std::string key, std::string value) {
  epb::PutRequest p;
  p.set_key(std::move(key));
  p.set_value(std::move(value));
  return p;
}

void DeletePrefix(etcd::Client& c, const std::string& prefix) {
  epb::DeleteRangeRequest d;
  d.set_key(prefix);
  d.set_range_end(etcd::PrefixEnd(prefix));
  (void)c.DeleteRangeSync(d);
}

// An etcd lease with its registry record (GrantTxn), as Grant leaves it.
skyport::Result<uint64_t> TxnLease(etcd::Client& c, const skyport::registry::EtcdKeys& keys) {
  epb::LeaseGrantRequest g;
  g.set_ttl(600);
  auto granted = c.LeaseGrantSync(g);
  if (!granted.ok()) return granted.status();
  const auto id = static_cast<uint64_t>(granted->id());
  auto rec = c.TxnSync(skyport::registry::GrantTxn(keys, id, 600));
  if (!rec.ok()) return rec.status();
  return id;
}

json RunPut(const Options& o, etcd::Client& keeper) {
  const std::string prefix = fmt::format("/skyport-bench/{}/put/", Nonce());
  const skyport::registry::EtcdKeys keys(prefix);
  std::atomic<uint64_t> errors{0};
  std::mutex err_mu;
  std::string first_error;  // guarded by err_mu
  auto fail = [&](const std::string& why) {
    errors++;
    std::lock_guard lock(err_mu);
    if (first_error.empty()) first_error = why;
  };
  auto tally = skyport::bench::TimedLoop(
      o.concurrency, o.warmup, o.seconds,
      [&](int t) -> skyport::bench::ClientOp {
        auto c = NewClient(o);
        if (!c.ok()) {
          fail(c.status().message());
          return {};
        }
        if (o.txn) {
          auto lease = TxnLease(**c, keys);
          if (!lease.ok()) {
            fail(lease.status().message());
            return {};
          }
          return [&, c = *c, t, lease = *lease](uint64_t k) {
            skyport::v1::Endpoint ep;
            ep.ParseFromString(EndpointValue(t, k));
            ep.set_lease_id(lease);
            const uint64_t id = (uint64_t{1} << 40) + static_cast<uint64_t>(t) * 10'000'000 + k;  // unused
            auto r = c->TxnSync(skyport::registry::OneTripRegisterTxn(keys, ep, id, 0));
            if (!r.ok()) fail(r.status().message());
            else if (!skyport::registry::OneTripRegistered(*r)) fail("the one-trip Txn's compares failed");
            return r.ok() && skyport::registry::OneTripRegistered(*r);
          };
        }
        return [&, c = *c, t](uint64_t k) {
          auto r = c->PutSync(PutOf(fmt::format("{}t{}/{:08d}", prefix, t, k), EndpointValue(t, k)));
          if (!r.ok()) fail(r.status().message());
          return r.ok();
        };
      },
      [&] { return errors.load() > 1000; });
  DeletePrefix(keeper, prefix);
  const uint64_t total = tally.ops;
  std::vector<double> all = std::move(tally.latency_ms);
  return {{"mode", o.txn ? "txn" : "put"},
          {"system", "etcd"},
          {"concurrency", o.concurrency},
          {"seconds", o.seconds},
          {"registrations", total},
          {"per_sec", static_cast<double>(total) / o.seconds},
          {"latency", LatencyJson(std::move(all))},
          {"errors", {{"total", errors.load()}, {"first", first_error}}}};
}

// Fan-out: change k is the key prefix + "c<k>"; "sync" proves a watch is live.
class FanoutRun {
 public:
  FanoutRun(const Options& o, etcd::Client& keeper)
      : o_(o), keeper_(keeper), prefix_(fmt::format("/skyport-bench/{}/fan/", Nonce())),
        sent_ns_(static_cast<size_t>(o.changes)),
        received_(static_cast<size_t>(o.changes), 0), samples_(static_cast<size_t>(o.watchers)) {
    for (auto& a : sent_ns_) a.store(0);
  }

  json Run() {
    auto writer = NewClient(o_);
    if (!writer.ok()) return Error("client: " + writer.status().message());
    // Every watch starts just after the current revision, so the sync key
    // written next reaches each of them however late its stream opens.
    auto head = (*writer)->PutSync(PutOf(prefix_ + "start", "x"));
    if (!head.ok()) return Error("put: " + head.status().message());
    const int64_t from = head->header().revision() + 1;
    std::vector<std::shared_ptr<etcd::Client>> clients;
    std::vector<std::unique_ptr<etcd::Watch>> watches;
    for (int w = 0; w < o_.watchers; ++w) {
      auto c = NewClient(o_);
      if (!c.ok()) return Error("client: " + c.status().message());
      clients.push_back(*c);
      etcd::WatchSpec spec;
      spec.key = prefix_;
      spec.range_end = etcd::PrefixEnd(prefix_);
      spec.start_revision = from;
      watches.push_back(etcd::StartWatch(*c, spec, [this, w](etcd::WatchUpdate u) { OnUpdate(w, u); }));
    }
    if (auto s = (*writer)->PutSync(PutOf(prefix_ + "sync", "x")); !s.ok()) return Error("put: " + s.status().message());
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return synced_ + failed_ >= o_.watchers; }))
        return Error("watchers did not all see the first key within 30 s");
      if (failed_ > 0) return Error(fmt::format("{} watches failed: {}", failed_, watch_error_));
    }
    std::vector<double> write_ms, last_ms;
    uint64_t missing = 0, errors = 0;
    std::string first_error;
    const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.change_timeout_s));
    for (int k = 0; k < o_.changes; ++k) {
      const auto t0 = Clock::now();
      sent_ns_[static_cast<size_t>(k)].store(t0.time_since_epoch().count(), std::memory_order_release);
      auto s = (*writer)->PutSync(PutOf(fmt::format("{}c{}", prefix_, k), EndpointValue(0, static_cast<uint64_t>(k))));
      write_ms.push_back(Ms(Clock::now() - t0));
      if (!s.ok()) {
        if (errors++ == 0) first_error = s.status().message();
        continue;
      }
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, t0 + timeout, [&] { return received_[static_cast<size_t>(k)] >= o_.watchers; }))
        last_ms.push_back(Ms(last_at_.at(k) - t0));
      else
        missing += static_cast<uint64_t>(o_.watchers - received_[static_cast<size_t>(k)]);
    }
    watches.clear();  // after this no callback runs: samples_ is ours
    DeletePrefix(keeper_, prefix_);
    skyport::bench::FanoutFigures f;
    for (auto& s : samples_) f.notify_ms.insert(f.notify_ms.end(), s.begin(), s.end());
    f.all_ms = std::move(last_ms);
    f.write_ms = std::move(write_ms);
    f.missing = missing;
    f.stream_drops = drops_.load();
    return skyport::bench::FanoutJson("etcd", o_.watchers, o_.changes, std::move(f),
                                      json{{"total", errors}, {"first", first_error}});
  }

 private:
  // Runs on a gRPC thread; one watch's updates come one at a time.
  void OnUpdate(int w, const etcd::WatchUpdate& u) {
    const auto now = Clock::now();
    if (!u.error.ok() || u.compact_revision > 0) {
      std::lock_guard lock(mu_);
      if (synced_flags_.count(w) == 0) {
        ++failed_;
        if (watch_error_.empty()) watch_error_ = u.error.ok() ? "compacted" : u.error.message();
      } else {
        ++drops_;
      }
      cv_.notify_all();
      return;
    }
    for (const auto& e : u.events) {
      const std::string& key = e.kv().key();
      if (key.size() <= prefix_.size()) continue;
      const std::string name = key.substr(prefix_.size());
      if (name == "sync") {
        std::lock_guard lock(mu_);
        if (synced_flags_.insert(w).second) ++synced_;
        cv_.notify_all();
        continue;
      }
      if (name[0] != 'c') continue;
      const size_t k = std::stoul(name.substr(1));
      if (k >= sent_ns_.size()) continue;
      const int64_t sent = sent_ns_[k].load(std::memory_order_acquire);
      samples_[static_cast<size_t>(w)].push_back(Ms(now.time_since_epoch() - Clock::duration(sent)));
      std::lock_guard lock(mu_);
      auto& last = last_at_[static_cast<int>(k)];
      last = std::max(last, now);
      if (++received_[k] == o_.watchers) cv_.notify_all();
    }
  }

  json Error(const std::string& why) { return {{"mode", "fanout"}, {"system", "etcd"}, {"error", why}}; }

  const Options& o_;
  etcd::Client& keeper_;
  const std::string prefix_;
  std::vector<std::atomic<int64_t>> sent_ns_;
  std::atomic<uint64_t> drops_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> received_;                   // guarded by mu_
  std::map<int, Clock::time_point> last_at_;    // guarded by mu_: latest receipt per change
  std::set<int> synced_flags_;                  // guarded by mu_: watchers that saw "sync"
  int synced_ = 0, failed_ = 0;                 // guarded by mu_
  std::string watch_error_;                     // guarded by mu_
  std::vector<std::vector<double>> samples_;    // per watcher, written by its callbacks only
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"etcd_bench: etcd's floor for registry_bench's load shapes (prints one JSON line)"};
  app.add_option("--etcd-endpoints", o.endpoints, "URL,URL,... of the etcd cluster")->required();
  app.require_subcommand(1);
  auto* put = app.add_subcommand("put", "N clients loop one Put each; puts/s");
  put->add_option("--concurrency", o.concurrency, "Client threads")->capture_default_str();
  put->add_option("--seconds", o.seconds, "Measured seconds")->capture_default_str();
  put->add_option("--warmup", o.warmup, "Seconds run before measuring")->capture_default_str();
  auto* txn = app.add_subcommand("txn", "N clients loop the registry's one-trip Register Txn; Txns/s");
  txn->add_option("--concurrency", o.concurrency, "Client threads")->capture_default_str();
  txn->add_option("--seconds", o.seconds, "Measured seconds")->capture_default_str();
  txn->add_option("--warmup", o.warmup, "Seconds run before measuring")->capture_default_str();
  auto* fan = app.add_subcommand("fanout", "W watches, C Puts one at a time; notify latency");
  fan->add_option("--watchers", o.watchers, "Watches, each on its own client")->capture_default_str();
  fan->add_option("--changes", o.changes, "Puts, one at a time")->capture_default_str();
  fan->add_option("--change-timeout", o.change_timeout_s, "Seconds to wait for every watcher")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // One client that lives (and has called etcd) until the process ends. gRPC
  // 1.51 counts the channels that used its shared callback queue
  // (CallbackAlternativeCQ) and tears it down when the count drops to zero;
  // an etcd client's last reference can be dropped on one of that queue's
  // own threads (a call finishing after its caller returned), and the
  // teardown then frees the queue under that thread: heap corruption, seen
  // 1 run in 8 at 64 clients before this. The keeper keeps the count above
  // zero; the process ends with _Exit, so it is never released.
  auto keeper = NewClient(o);
  if (!keeper.ok()) {
    fmt::print(stderr, "etcd_bench: {}\n", keeper.status().message());
    return 2;
  }
  epb::RangeRequest probe;
  probe.set_key("/skyport-bench/");
  probe.set_limit(1);
  if (auto r = (*keeper)->RangeSync(probe); !r.ok()) {
    fmt::print(stderr, "etcd_bench: {}\n", r.status().message());
    return 2;
  }
  o.txn = txn->parsed();
  json out = put->parsed() || txn->parsed() ? RunPut(o, **keeper) : FanoutRun(o, **keeper).Run();
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  std::_Exit(out.contains("error") ? 1 : 0);  // the keeper stays (above)
}
