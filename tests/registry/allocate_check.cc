// allocate_check: Allocate's promises, checked over gRPC against a running
// registry (tests/integration/test_registry.py runs it against the SQLite
// store, test_registry_etcd.py against the etcd store, which keep them in
// different ways): a retried Allocate gets its port again, `avoid` drops it, a
// registration or a release ends it (and only its own), an explicit
// reservation is found again, a revoked lease allocates nothing. With
// --range LO-HI (the registry's --port-range, at most 64 ports) it checks
// instead what an Allocate that avoids the whole range answers. With
// --without-index it allocates, prints {"paused": true, "lease": ID} and waits
// for a line on stdin (meanwhile the caller removes the etcd store's identity
// index, as allocations made by an older registry have none), then checks
// what still holds for those allocations. With --race HOST:PORT (a second
// registry on the same etcd) it sends racing Allocates of the same
// identities through both, then prints {"race_lease": ID} for the caller to
// count what etcd holds. With --migrated it pauses twice, answered each time
// with the address of a registry the data was migrated to. One JSON object
// per check on stdout; exit 1 if one failed.
//   allocate_check --registry HOST:PORT --token-file FILE [--host NAME]
//                  [--range LO-HI | --without-index | --race HOST:PORT | --migrated]
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rpc/auth.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace {

using skyport::v1::Registry;
namespace v1 = skyport::v1;

class Checker {
 public:
  Checker(const std::string& address, std::string token)
      : stub_(Registry::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        token_(std::move(token)) {}

  uint64_t Grant() {
    v1::GrantRequest req;
    req.set_ttl_seconds(60);
    v1::GrantResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx);
    auto s = stub_->Grant(&ctx, req, &resp);
    Check("grant", s.ok(), s.error_message());
    return resp.lease_id();
  }
  // The port, or 0 with `code` set.
  uint32_t Allocate(uint64_t lease, const std::string& host, uint32_t instance, std::vector<uint32_t> avoid = {},
                    uint32_t port = 0, grpc::StatusCode* code = nullptr) {
    v1::AllocateRequest req;
    req.set_host(host);
    req.set_app("webapp");
    req.set_commit("abcdef0123");
    req.set_role("web");
    req.set_instance(instance);
    req.set_lease_id(lease);
    req.set_port(port);
    for (uint32_t a : avoid) req.add_avoid(a);
    v1::AllocateResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx);
    auto s = stub_->Allocate(&ctx, req, &resp);
    if (code != nullptr) *code = s.error_code();
    else if (!s.ok()) Check("allocate", false, s.error_message());
    return s.ok() ? resp.port() : 0;
  }
  grpc::Status Register(uint64_t lease, const std::string& host, uint32_t port, uint32_t instance,
                        uint64_t* id = nullptr) {
    v1::RegisterRequest req;
    v1::Endpoint* ep = req.mutable_endpoint();
    ep->set_app("webapp");
    ep->set_commit("abcdef0123");
    ep->set_role("web");
    ep->set_instance(instance);
    ep->set_host(host);
    ep->set_port(port);
    ep->set_lease_id(lease);
    v1::RegisterResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx);
    grpc::Status s = stub_->Register(&ctx, req, &resp);
    if (id != nullptr) *id = resp.id();
    return s;
  }
  grpc::Status Deregister(uint64_t id) {
    v1::DeregisterRequest req;
    req.set_id(id);
    v1::DeregisterResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx);
    return stub_->Deregister(&ctx, req, &resp);
  }
  grpc::Status Release(uint64_t lease, const std::string& host, uint32_t port) {
    v1::ReleasePortRequest req;
    req.set_host(host);
    req.set_port(port);
    req.set_lease_id(lease);
    v1::ReleasePortResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx);
    return stub_->ReleasePort(&ctx, req, &resp);
  }
  grpc::Status Revoke(uint64_t lease) {
    v1::RevokeRequest req;
    req.set_lease_id(lease);
    v1::RevokeResponse resp;
    grpc::ClientContext ctx;
    Prepare(ctx);
    return stub_->Revoke(&ctx, req, &resp);
  }

  // Prints {"paused": true, "lease": ID} and waits for a line on stdin: the
  // address of the registry to go on with, or nothing to stay.
  void Pause(uint64_t lease) {
    std::cout << nlohmann::json{{"paused", true}, {"lease", lease}}.dump() << std::endl;
    std::string line;
    std::getline(std::cin, line);
    if (!line.empty())
      stub_ = Registry::NewStub(grpc::CreateChannel(line, grpc::InsecureChannelCredentials()));
  }

  void Check(const std::string& name, bool ok, const std::string& detail = "") {
    std::cout << nlohmann::json{{"check", name}, {"ok", ok}, {"detail", detail}}.dump() << std::endl;
    failed_ = failed_ || !ok;
  }
  bool failed() const { return failed_; }

 private:
  void Prepare(grpc::ClientContext& ctx) {
    skyport::rpc::AttachToken(ctx, token_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  std::unique_ptr<Registry::Stub> stub_;
  std::string token_;
  bool failed_ = false;
};

std::string Ports(std::initializer_list<uint32_t> ports) {
  std::string out;
  for (uint32_t p : ports) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

// An Allocate that avoids every port of the range [lo, hi]: answered by the
// identity's reservation outside the range, refused for any other identity.
void CheckWholeRangeAvoided(Checker& c, const std::string& host, uint32_t lo, uint32_t hi) {
  std::vector<uint32_t> all;
  for (uint32_t p = lo; p <= hi; ++p) all.push_back(p);
  const uint64_t lease = c.Grant();
  const uint32_t outside = hi < 65535 ? hi + 1 : lo - 1;
  c.Check("an explicit reservation outside the range", c.Allocate(lease, host, 1, {}, outside) == outside);
  grpc::StatusCode code = grpc::StatusCode::OK;
  const uint32_t answer = c.Allocate(lease, host, 1, all, 0, &code);
  c.Check("avoiding the whole range still answers the identity's reservation", answer == outside,
          fmt::format("port {}, code {}", answer, static_cast<int>(code)));
  const uint32_t refused = c.Allocate(lease, host, 2, all, 0, &code);
  c.Check("avoiding the whole range refuses another identity",
          refused == 0 && code == grpc::StatusCode::RESOURCE_EXHAUSTED,
          fmt::format("port {}, code {}", refused, static_cast<int>(code)));
  (void)c.Revoke(lease);
}

// Allocations made by an older registry (no identity index): they are
// registered on, released and revoked as any; a retried Allocate answers a
// live port, the same one the next time (docs/operations.md: not
// necessarily the one allocated before the upgrade).
void CheckWithoutIndex(Checker& c, const std::string& host) {
  const uint64_t lease = c.Grant(), other = c.Grant();
  const uint32_t p1 = c.Allocate(lease, host, 1), p2 = c.Allocate(lease, host, 2), p3 = c.Allocate(lease, host, 3);
  c.Pause(lease);
  grpc::Status reg = c.Register(lease, host, p1, 1);
  c.Check("register on an allocation without an index", reg.ok(), reg.error_message());
  const uint32_t q1 = c.Allocate(lease, host, 1);
  c.Check("... then the identity's Allocate is a new port, retried",
          q1 != 0 && q1 != p1 && c.Allocate(lease, host, 1) == q1, Ports({p1, q1}));
  grpc::Status rel = c.Release(lease, host, p2);
  grpc::StatusCode code = grpc::StatusCode::OK;
  c.Check("release an allocation without an index", rel.ok(), rel.error_message());
  c.Check("... frees it", c.Allocate(other, host, 5, {}, p2, &code) == p2, std::to_string(code));
  const uint32_t q3 = c.Allocate(lease, host, 3);
  c.Check("a retried Allocate answers a live port, the same one next time",
          q3 != 0 && c.Allocate(lease, host, 3) == q3 && c.Allocate(other, host, 6, {}, q3, &code) == 0,
          Ports({p3, q3}));
  const uint32_t r3 = c.Allocate(lease, host, 3, {q3});
  c.Check("... and avoids it when asked", r3 != 0 && r3 != q3 && c.Allocate(lease, host, 3) == r3, Ports({q3, r3}));
  grpc::Status rv = c.Revoke(lease);
  c.Check("revoke", rv.ok(), rv.error_message());
  c.Check("... frees the allocations without an index", c.Allocate(other, host, 7, {}, p3, &code) == p3,
          std::to_string(code));
  (void)c.Revoke(other);
}

// Allocates of the same identities sent at once through two registries on
// one etcd: one port per identity, whoever answers; then racing avoids of
// that port: each identity ends with one live allocation, a new one.
void CheckRace(Checker& a, Checker& b, const std::string& host) {
  constexpr uint32_t kIdentities = 8;
  constexpr int kPerIdentity = 6;
  const uint64_t lease = a.Grant();
  auto race = [&](const std::vector<uint32_t>& avoid_of) {
    std::vector<std::vector<uint32_t>> got(kIdentities, std::vector<uint32_t>(kPerIdentity));
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i < kIdentities; ++i)
      for (int k = 0; k < kPerIdentity; ++k)
        threads.emplace_back([&, i, k] {
          grpc::StatusCode code = grpc::StatusCode::OK;
          std::vector<uint32_t> avoid;
          if (!avoid_of.empty()) avoid.push_back(avoid_of[i]);
          got[i][k] = (k % 2 == 0 ? a : b).Allocate(lease, host, i, avoid, 0, &code);
        });
    for (auto& t : threads) t.join();
    return got;
  };
  auto first = race({});
  std::vector<uint32_t> port_of;
  bool one = true;
  for (const auto& answers : first) {
    port_of.push_back(answers[0]);
    for (uint32_t p : answers) one = one && p != 0 && p == answers[0];
  }
  const std::set<uint32_t> distinct(port_of.begin(), port_of.end());
  a.Check("racing Allocates of one identity through two registries answer one port", one);
  a.Check("... distinct identities distinct ports", distinct.size() == kIdentities);
  auto second = race(port_of);
  bool moved = true;
  for (uint32_t i = 0; i < kIdentities; ++i) {
    for (uint32_t p : second[i]) moved = moved && p != 0 && p != port_of[i];
    const uint32_t now_a = a.Allocate(lease, host, i), now_b = b.Allocate(lease, host, i);
    moved = moved && now_a != port_of[i] && now_a == now_b;
  }
  a.Check("racing avoids of that port move each identity to one new port", moved);
  std::cout << nlohmann::json{{"race_lease", lease}}.dump() << std::endl;
}

// Unregistered allocations across `migrate`: the registry is replaced twice
// at the pauses (SQLite -> etcd -> SQLite); a retried Allocate answers the
// same port on each, an explicit reservation included.
void CheckMigrated(Checker& c, const std::string& host) {
  const uint64_t lease = c.Grant();
  const uint32_t p1 = c.Allocate(lease, host, 1), p2 = c.Allocate(lease, host, 2), x3 = 20003;
  c.Check("an explicit reservation", c.Allocate(lease, host, 3, {}, x3) == x3);
  // Two reservations of one identity: the later one answers (RegistryState's, and the etcd index's, rule).
  const uint32_t p4 = c.Allocate(lease, host, 4), x4 = 20004;
  c.Check("a second, explicit reservation of one identity", c.Allocate(lease, host, 4, {}, x4) == x4 &&
          c.Allocate(lease, host, 4) == x4, Ports({p4, x4}));
  c.Pause(lease);
  c.Check("after a migration a retried Allocate gets the same port",
          c.Allocate(lease, host, 1) == p1 && c.Allocate(lease, host, 2) == p2, Ports({p1, p2}));
  c.Check("... and the same explicit reservation", c.Allocate(lease, host, 3) == x3);
  c.Check("... and the later of two reservations", c.Allocate(lease, host, 4) == x4, Ports({p4, x4}));
  grpc::Status reg = c.Register(lease, host, p1, 1);
  c.Check("register on a migrated allocation", reg.ok(), reg.error_message());
  const uint32_t q1 = c.Allocate(lease, host, 1);
  c.Check("... ends it", q1 != 0 && q1 != p1, Ports({p1, q1}));
  c.Pause(lease);
  c.Check("after migrating back a retried Allocate gets the same port",
          c.Allocate(lease, host, 1) == q1 && c.Allocate(lease, host, 2) == p2, Ports({q1, p2}));
  c.Check("... and the same explicit reservation", c.Allocate(lease, host, 3) == x3);
  c.Check("... and the later of two reservations", c.Allocate(lease, host, 4) == x4, Ports({p4, x4}));
  (void)c.Revoke(lease);
}

}  // namespace

int main(int argc, char** argv) {
  std::string registry, token_file, host = "10.77.0.1";
  CLI::App app{"Allocate's promises against a running registry"};
  app.add_option("--registry", registry, "HOST:PORT")->required();
  app.add_option("--token-file", token_file, "The cluster token")->required();
  app.add_option("--host", host, "The host the allocations are for");
  std::string range;
  app.add_option("--range", range, "The registry's --port-range LO-HI (at most 64 ports): check avoiding all of it");
  std::string race;
  app.add_option("--race", race, "A second registry on the same etcd: racing Allocates through both");
  bool without_index = false, migrated = false;
  app.add_flag("--migrated", migrated,
               "Pause twice (the caller migrates the registry and answers the new address), checking allocations");
  app.add_flag("--without-index", without_index,
               "Pause after allocating (the caller removes the etcd identity index), then check those allocations");
  CLI11_PARSE(app, argc, argv);
  std::ifstream f(token_file);
  std::string token;
  std::getline(f, token);
  Checker c(registry, token);
  if (!range.empty()) {
    unsigned lo = 0, hi = 0;
    if (std::sscanf(range.c_str(), "%u-%u", &lo, &hi) != 2 || lo == 0 || hi < lo || hi - lo >= 64 || hi > 65535) {
      std::cerr << "allocate_check: --range must be LO-HI, at most 64 ports\n";
      return 2;
    }
    CheckWholeRangeAvoided(c, host, lo, hi);
    return c.failed() ? 1 : 0;
  }
  if (!race.empty()) {
    Checker other(race, token);
    CheckRace(c, other, host);
    return c.failed() ? 1 : 0;
  }
  if (migrated) {
    CheckMigrated(c, host);
    return c.failed() ? 1 : 0;
  }
  if (without_index) {
    CheckWithoutIndex(c, host);
    return c.failed() ? 1 : 0;
  }

  const uint64_t lease = c.Grant(), other = c.Grant();
  const uint32_t p1 = c.Allocate(lease, host, 1);
  c.Check("a retried Allocate gets the same port", c.Allocate(lease, host, 1) == p1, Ports({p1}));
  const uint32_t p2 = c.Allocate(lease, host, 2);
  c.Check("another instance gets another port", p2 != 0 && p2 != p1, Ports({p1, p2}));
  grpc::Status stranger = c.Register(other, host, p2, 2);
  c.Check("another lease cannot register on a reserved port", stranger.error_code() == grpc::StatusCode::ALREADY_EXISTS,
          stranger.error_message());
  grpc::Status stranger_release = c.Release(other, host, p2);
  c.Check("... nor release it", stranger_release.error_code() == grpc::StatusCode::NOT_FOUND,
          stranger_release.error_message());
  c.Check("... and the reservation stays", c.Allocate(lease, host, 2) == p2, Ports({p2}));
  c.Check("another lease's Allocate of the same identity gets another port", c.Allocate(other, host, 1) != p1);

  const uint32_t p3 = c.Allocate(lease, host, 1, {p1});
  c.Check("avoid: a port found taken outside the cluster is not answered", p3 != 0 && p3 != p1, Ports({p1, p3}));
  grpc::StatusCode code = grpc::StatusCode::OK;
  c.Check("avoid: the avoided allocation is dropped (another lease can reserve it)",
          c.Allocate(other, host, 9, {}, p1, &code) == p1, std::to_string(code));
  c.Check("the new port is the identity's now", c.Allocate(lease, host, 1) == p3, Ports({p3}));

  grpc::Status reg = c.Register(lease, host, p3, 1);
  c.Check("register on the allocated port", reg.ok(), reg.error_message());
  grpc::Status registered_release = c.Release(lease, host, p3);
  c.Check("a port that carries an entry is not released",
          registered_release.error_code() == grpc::StatusCode::FAILED_PRECONDITION, registered_release.error_message());
  const uint32_t p4 = c.Allocate(lease, host, 1);
  c.Check("after the registration the identity's next Allocate is a new port", p4 != 0 && p4 != p3, Ports({p3, p4}));
  c.Check("... and that one is retried too", c.Allocate(lease, host, 1) == p4, Ports({p4}));

  grpc::Status rel = c.Release(lease, host, p4);
  c.Check("release the unregistered port", rel.ok(), rel.error_message());
  const uint32_t p5 = c.Allocate(lease, host, 1);
  c.Check("after the release an Allocate gets a live port again", p5 != 0 && p5 != p3, Ports({p3, p5}));
  c.Check("the released port is free for anyone",
          p4 == p5 || c.Allocate(other, host, 10, {}, p4, &code) == p4, std::to_string(code));

  const uint32_t explicit_port = p5 == 20000 ? 20001 : 20000;
  c.Check("an explicit reservation", c.Allocate(lease, host, 3, {}, explicit_port) == explicit_port);
  c.Check("... is what the identity's Allocate answers next", c.Allocate(lease, host, 3) == explicit_port);
  c.Check("another lease cannot reserve a live port",
          c.Allocate(other, host, 3, {}, explicit_port, &code) == 0 && code == grpc::StatusCode::ALREADY_EXISTS,
          std::to_string(code));

  // A registration or a release ends only the allocation it is about.
  const uint32_t q1 = c.Allocate(lease, host, 20);
  grpc::Status other_identity = c.Register(lease, host, q1, 21);
  c.Check("register another identity of the lease on an allocated port", other_identity.ok(),
          other_identity.error_message());
  const uint32_t q2 = c.Allocate(lease, host, 20);
  c.Check("... ends the allocation of the identity it was made for", q2 != 0 && q2 != q1, Ports({q1, q2}));
  c.Check("... and that identity's new one is retried", c.Allocate(lease, host, 20) == q2, Ports({q2}));
  const uint32_t q3 = c.Allocate(lease, host, 21);
  c.Check("the registered identity's Allocate is a new port", q3 != 0 && q3 != q1 && q3 != q2, Ports({q1, q2, q3}));

  const uint32_t q4 = c.Allocate(lease, host, 22), later = 20004;
  c.Check("a second, explicit reservation of one identity", c.Allocate(lease, host, 22, {}, later) == later);
  grpc::Status rel_older = c.Release(lease, host, q4);
  c.Check("release the identity's older allocation", rel_older.ok(), rel_older.error_message());
  c.Check("... keeps the newer one", c.Allocate(lease, host, 22) == later, Ports({q4, later}));

  const uint32_t q5 = c.Allocate(lease, host, 23), elsewhere = 20005;
  uint64_t id = 0;
  grpc::Status reg_elsewhere = c.Register(lease, host, elsewhere, 23, &id);
  c.Check("register the identity on a port it did not allocate", reg_elsewhere.ok(), reg_elsewhere.error_message());
  c.Check("... keeps its allocation", c.Allocate(lease, host, 23) == q5, Ports({q5}));
  grpc::Status dereg = c.Deregister(id);
  c.Check("deregister", dereg.ok(), dereg.error_message());
  c.Check("... frees the port for anyone", c.Allocate(other, host, 12, {}, elsewhere, &code) == elsewhere,
          std::to_string(code));
  c.Check("... and the identity's allocation stays", c.Allocate(lease, host, 23) == q5, Ports({q5}));

  grpc::Status rv = c.Revoke(lease);
  c.Check("revoke", rv.ok(), rv.error_message());
  c.Check("a revoked lease allocates nothing",
          c.Allocate(lease, host, 1, {}, 0, &code) == 0 && code == grpc::StatusCode::NOT_FOUND, std::to_string(code));
  c.Check("its ports are free again", c.Allocate(other, host, 11, {}, explicit_port, &code) == explicit_port,
          std::to_string(code));
  (void)c.Revoke(other);
  return c.failed() ? 1 : 0;
}
