// etcd_client_check: scenarios of the etcd client (proto/rpc/etcd_client.h)
// against a real etcd, driven by tests/integration/test_etcd_client.py.
// Each prints one JSON object per line and exits 0 when its checks hold, 1
// with {"fail": "..."} when one does not. Settings come from the shared
// --etcd-* flags (and SKYPORT_ETCD_* env), as a daemon's would.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/flags.h"
#include "rpc/etcd_client.h"
#include "rpc/etcd_options.h"

namespace {

using namespace skyport;        // NOLINT
using namespace skyport::etcd;  // NOLINT
using nlohmann::json;

void Emit(const json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

int Fail(const std::string& why) {
  Emit({{"fail", why}});
  return 1;
}

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

etcdserverpb::PutRequest PutReq(const std::string& k, const std::string& v, int64_t lease = 0) {
  etcdserverpb::PutRequest r;
  r.set_key(k);
  r.set_value(v);
  r.set_lease(lease);
  return r;
}

etcdserverpb::RangeRequest RangeReq(const std::string& k, const std::string& end = "") {
  etcdserverpb::RangeRequest r;
  r.set_key(k);
  r.set_range_end(end);
  return r;
}

// Collects a watch's updates for the checks.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchUpdate> updates;
  void Add(WatchUpdate u) {
    std::lock_guard lock(mu);
    updates.push_back(std::move(u));
    cv.notify_all();
  }
  // Waits until pred(updates) holds, up to `ms`.
  template <class P>
  bool WaitFor(int ms, P pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return pred(updates); });
  }
};

// put/range/delete and a compare-and-swap Txn, both outcomes.
int Basic(Client& c) {
  std::string k = "/check/basic/" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  auto put = c.PutSync(PutReq(k, "v1"));
  if (!put.ok()) return Fail("put: " + put.status().ToString());
  auto got = c.RangeSync(RangeReq(k));
  if (!got.ok() || got->kvs_size() != 1 || got->kvs(0).value() != "v1") return Fail("range after put");
  int64_t mod = got->kvs(0).mod_revision();
  for (bool expect_ok : {true, false}) {  // the second CAS compares a revision that is gone
    etcdserverpb::TxnRequest t;
    auto* cmp = t.add_compare();
    cmp->set_key(k);
    cmp->set_target(etcdserverpb::Compare::MOD);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_mod_revision(mod);
    *t.add_success()->mutable_request_put() = PutReq(k, expect_ok ? "v2" : "v3");
    *t.add_failure()->mutable_request_range() = RangeReq(k);
    auto r = c.TxnSync(t);
    if (!r.ok()) return Fail("txn: " + r.status().ToString());
    if (r->succeeded() != expect_ok) return Fail("txn succeeded=" + std::to_string(r->succeeded()));
    if (!expect_ok && (r->responses(0).response_range().kvs(0).value() != "v2"))
      return Fail("failed txn did not return the current value");
  }
  got = c.RangeSync(RangeReq(k));
  if (!got.ok() || got->kvs(0).value() != "v2") return Fail("value after the two CAS is not v2");
  etcdserverpb::DeleteRangeRequest d;
  d.set_key(k);
  d.set_prev_kv(true);
  auto del = c.DeleteRangeSync(d);
  if (!del.ok() || del->deleted() != 1 || del->prev_kvs(0).value() != "v2") return Fail("delete");
  got = c.RangeSync(RangeReq(k));
  if (!got.ok() || got->kvs_size() != 0) return Fail("key still there after delete");
  Emit({{"basic", "ok"}, {"endpoint", c.current_endpoint()}, {"revision", del->header().revision()}});
  return 0;
}

// Keep-alives keep a lease's keys; without them etcd expires the lease and
// deletes the keys; a keep-alive of the dead lease answers NOT_FOUND.
int Lease(Client& c) {
  etcdserverpb::LeaseGrantRequest g;
  g.set_ttl(2);
  auto lease = c.LeaseGrantSync(g);
  if (!lease.ok()) return Fail("grant: " + lease.status().ToString());
  int64_t id = lease->id();
  std::string k = "/check/lease/" + std::to_string(id);
  if (auto p = c.PutSync(PutReq(k, "held", id)); !p.ok()) return Fail("put: " + p.status().ToString());
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(4500);  // > 2 TTLs
  while (std::chrono::steady_clock::now() < until) {
    auto ka = c.LeaseKeepAliveSync(id);
    if (!ka.ok()) return Fail("keepalive: " + ka.status().ToString());
    if (ka->id() != id || ka->ttl() <= 0) return Fail("keepalive answer");
    Sleep(400);
  }
  auto got = c.RangeSync(RangeReq(k));
  if (!got.ok() || got->kvs_size() != 1) return Fail("key gone although kept alive");
  etcdserverpb::LeaseTimeToLiveRequest ttl;
  ttl.set_id(id);
  ttl.set_keys(true);
  auto t = c.LeaseTimeToLiveSync(ttl);
  if (!t.ok() || t->ttl() <= 0 || t->keys_size() != 1) return Fail("time-to-live of the kept lease");
  Emit({{"kept", true}, {"ttl", t->ttl()}});
  // No more keep-alives: etcd must expire the lease (2 s TTL; poll up to 10 s).
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    got = c.RangeSync(RangeReq(k));
    if (got.ok() && got->kvs_size() == 0) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(10)) return Fail("lease never expired");
    Sleep(100);
  }
  auto ka = c.LeaseKeepAliveSync(id);
  if (ka.ok() || ka.status().code() != Code::kNotFound)
    return Fail("keepalive of the expired lease: " + ka.status().ToString());
  Emit({{"expired_after_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - start).count()},
        {"keepalive_unknown", ka.status().ToString()}});
  return 0;
}

json EventJson(const mvccpb::Event& e) {
  json j = {{"type", e.type() == mvccpb::Event::PUT ? "PUT" : "DELETE"},
            {"key", e.kv().key()},
            {"value", e.kv().value()},
            {"mod", e.kv().mod_revision()}};
  if (e.has_prev_kv()) j["prev"] = e.prev_kv().value();
  return j;
}

// A watch from revision --rev (prev_kv on) until --count events arrived or
// it ended; prints them (or compact_revision / the error).
int WatchFrom(std::shared_ptr<Client> c, const std::string& prefix, int64_t rev, int count) {
  Recorder rec;
  WatchSpec spec{prefix, PrefixEnd(prefix), rev, true, false};
  auto w = StartWatch(c, spec, [&](WatchUpdate u) { rec.Add(std::move(u)); });
  bool done = rec.WaitFor(10'000, [&](const std::vector<WatchUpdate>& us) {
    size_t n = 0;
    for (auto& u : us) {
      if (u.compact_revision > 0 || !u.error.ok()) return true;
      n += u.events.size();
    }
    return n >= static_cast<size_t>(count);
  });
  w.reset();
  json events = json::array();
  for (auto& u : rec.updates) {
    if (u.compact_revision > 0) Emit({{"compact_revision", u.compact_revision}});
    if (!u.error.ok()) Emit({{"error", u.error.ToString()}});
    for (auto& e : u.events) events.push_back(EventJson(e));
  }
  Emit({{"events", events}, {"complete", done}});
  return done ? 0 : Fail("the watch delivered too few events within 10 s");
}

// Writes under --prefix for --seconds while watching it; prints the endpoint
// in use after --mark writes and --mark-ms (the test kills that member). Checks: every
// acknowledged write is in etcd afterwards, the client kept writing after
// the member died, and the watch saw every acknowledged write once, in order.
int Failover(std::shared_ptr<Client> c, const std::string& prefix, int seconds, int mark, int mark_ms) {
  auto first = c->RangeSync(RangeReq(prefix, PrefixEnd(prefix)));
  if (!first.ok()) return Fail("initial range: " + first.status().ToString());
  Recorder rec;
  WatchSpec spec{prefix, PrefixEnd(prefix), first->header().revision() + 1, false, false};
  auto w = StartWatch(c, spec, [&](WatchUpdate u) { rec.Add(std::move(u)); });
  // A lease kept alive from another thread all along: it must outlive the
  // member's death (keep-alives fail over too).
  etcdserverpb::LeaseGrantRequest g;
  g.set_ttl(3);
  auto lease = c->LeaseGrantSync(g);
  if (!lease.ok()) return Fail("grant: " + lease.status().ToString());
  std::string lease_key = prefix + "lease";
  if (auto p = c->PutSync(PutReq(lease_key, "held", lease->id())); !p.ok()) return Fail("lease put");
  std::atomic<bool> writing{true};
  std::atomic<int> keepalive_errors{0}, keepalives{0};
  std::thread keeper([&] {
    while (writing.load()) {
      auto ka = c->LeaseKeepAliveSync(lease->id());
      if (ka.ok()) {
        ++keepalives;
      } else {
        ++keepalive_errors;
        Emit({{"keepalive_error", ka.status().ToString()}});
      }
      Sleep(300);
    }
  });
  std::map<std::string, int64_t> acked;  // key -> mod revision
  int unknown = 0, failed = 0, acked_elsewhere = 0;
  std::string initial;
  // At least --seconds, and on until 20 writes were acknowledged by another
  // member after the mark (a loaded machine may spend --seconds reaching it),
  // within a hard deadline.
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  const auto hard_end = end + std::chrono::seconds(45);
  auto writing_on = [&] {
    const auto now = std::chrono::steady_clock::now();
    return now < end || (now < hard_end && acked_elsewhere < 20);
  };
  for (int i = 0; writing_on(); ++i) {
    char key[64];
    std::snprintf(key, sizeof key, "%s%06d", prefix.c_str(), i);
    auto r = c->PutSync(PutReq(key, "v"));
    if (r.ok()) {
      acked[key] = r->header().revision();
      const auto since_start = std::chrono::steady_clock::now() - start;
      if (initial.empty() && static_cast<int>(acked.size()) >= mark && since_start >= std::chrono::milliseconds(mark_ms)) {
        initial = c->current_endpoint();
        Emit({{"current", initial}});
      } else if (!initial.empty() && c->current_endpoint() != initial) {
        ++acked_elsewhere;
      }
    } else if (r.status().message().find("outcome is unknown") != std::string::npos) {
      ++unknown;
    } else {
      ++failed;
      if (failed <= 5) Emit({{"write_error", r.status().ToString()}});
    }
  }
  writing = false;
  keeper.join();
  // Every acknowledged key is there (read through whichever member answers).
  auto all = c->RangeSync(RangeReq(prefix, PrefixEnd(prefix)));
  if (!all.ok()) return Fail("final range: " + all.status().ToString());
  std::set<std::string> present;
  for (auto& kv : all->kvs()) present.insert(kv.key());
  bool lease_kept = present.count(lease_key) == 1;
  int lost = 0;
  for (auto& [k, rev] : acked) lost += present.count(k) == 0;
  int64_t last_rev = all->header().revision();
  bool caught_up = rec.WaitFor(15'000, [&](const std::vector<WatchUpdate>& us) {
    for (auto& u : us)
      if (u.compact_revision > 0 || !u.error.ok()) return true;
    return !us.empty() && us.back().revision >= last_rev;
  });
  w.reset();
  std::map<std::string, int> seen;
  int64_t prev = 0;
  int out_of_order = 0, duplicates = 0, ended = 0;
  for (auto& u : rec.updates) {
    if (u.compact_revision > 0 || !u.error.ok()) ++ended;
    for (auto& e : u.events) {
      if (e.kv().key() == lease_key) continue;
      if (e.kv().mod_revision() <= prev) ++out_of_order;
      prev = e.kv().mod_revision();
      if (++seen[e.kv().key()] > 1) ++duplicates;
    }
  }
  int unseen = 0;
  for (auto& [k, rev] : acked) unseen += seen.count(k) == 0;
  PromText metrics;
  c->WriteMetrics(metrics);
  json summary = {{"acked", acked.size()}, {"unknown", unknown}, {"failed", failed}, {"lost", lost},
                  {"acked_elsewhere", acked_elsewhere}, {"initial", initial}, {"final", c->current_endpoint()},
                  {"watch_caught_up", caught_up}, {"watch_ended", ended}, {"watch_unseen", unseen},
                  {"watch_duplicates", duplicates}, {"watch_out_of_order", out_of_order},
                  {"lease_kept", lease_kept}, {"keepalives", keepalives.load()},
                  {"keepalive_errors", keepalive_errors.load()},
                  {"metrics", metrics.str()}};
  Emit(summary);
  if (lost || unseen || duplicates || out_of_order || ended || !caught_up || !lease_kept || keepalive_errors)
    return Fail("failover checks");
  if (initial.empty() || acked_elsewhere == 0) return Fail("no write acknowledged by another member");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"etcd_client_check: the etcd client against a real etcd (tests/integration/test_etcd_client.py)"};
  EtcdFlags flags;
  std::string scenario, prefix = "/check/";
  int64_t rev = 0;
  int count = 1, seconds = 6, mark = 50, mark_ms = 0;
  app.add_option("scenario", scenario, "basic|lease|watch|failover")->required();
  app.add_option("--key-prefix", prefix, "Keys the scenario uses");
  app.add_option("--rev", rev, "watch: start revision");
  app.add_option("--count", count, "watch: events to wait for");
  app.add_option("--seconds", seconds, "failover: how long to write");
  app.add_option("--mark", mark, "failover: print the endpoint in use after this many writes");
  app.add_option("--mark-ms", mark_ms, "failover: and not before this many milliseconds of writing");
  AddEtcdFlags(app, flags, "");
  EnableEnvAndConfig(app, "", "");
  int code = 0;
  if (!ParseOrExit(app, argc, argv, code)) return code;
  auto settings = SettingsFromFlags(flags, ProcessEnv());
  if (!settings.ok()) return Fail(settings.status().ToString());
  auto client = Client::Create(settings->options);
  if (!client.ok()) return Fail(client.status().ToString());
  std::shared_ptr<Client> c = *client;
  if (scenario == "basic") return Basic(*c);
  if (scenario == "lease") return Lease(*c);
  if (scenario == "watch") return WatchFrom(c, prefix, rev, count);
  if (scenario == "failover") return Failover(c, prefix, seconds, mark, mark_ms);
  return Fail("unknown scenario " + scenario);
}
