// allocate_check: Allocate's promises, checked over gRPC against a running
// registry (tests/integration/test_registry_allocate.py runs it against the
// SQLite store and the etcd store, which keep them in different ways): a
// retried Allocate gets its port again, `avoid` drops it, a registration or a
// release ends it, an explicit reservation is found again, a revoked lease
// allocates nothing. One JSON object per check on stdout; exit 1 if one failed.
//   allocate_check --registry HOST:PORT --token-file FILE [--host NAME]
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
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
  grpc::Status Register(uint64_t lease, const std::string& host, uint32_t port, uint32_t instance) {
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
    return stub_->Register(&ctx, req, &resp);
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

}  // namespace

int main(int argc, char** argv) {
  std::string registry, token_file, host = "10.77.0.1";
  CLI::App app{"Allocate's promises against a running registry"};
  app.add_option("--registry", registry, "HOST:PORT")->required();
  app.add_option("--token-file", token_file, "The cluster token")->required();
  app.add_option("--host", host, "The host the allocations are for");
  CLI11_PARSE(app, argc, argv);
  std::ifstream f(token_file);
  std::string token;
  std::getline(f, token);
  Checker c(registry, token);

  const uint64_t lease = c.Grant(), other = c.Grant();
  const uint32_t p1 = c.Allocate(lease, host, 1);
  c.Check("a retried Allocate gets the same port", c.Allocate(lease, host, 1) == p1, Ports({p1}));
  const uint32_t p2 = c.Allocate(lease, host, 2);
  c.Check("another instance gets another port", p2 != 0 && p2 != p1, Ports({p1, p2}));
  c.Check("another lease's Allocate of the same identity gets another port", c.Allocate(other, host, 1) != p1);

  const uint32_t p3 = c.Allocate(lease, host, 1, {p1});
  c.Check("avoid: a port found taken outside the cluster is not answered", p3 != 0 && p3 != p1, Ports({p1, p3}));
  grpc::StatusCode code;
  c.Check("avoid: the avoided allocation is dropped (another lease can reserve it)",
          c.Allocate(other, host, 9, {}, p1, &code) == p1, std::to_string(code));
  c.Check("the new port is the identity's now", c.Allocate(lease, host, 1) == p3, Ports({p3}));

  grpc::Status reg = c.Register(lease, host, p3, 1);
  c.Check("register on the allocated port", reg.ok(), reg.error_message());
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

  grpc::Status rv = c.Revoke(lease);
  c.Check("revoke", rv.ok(), rv.error_message());
  c.Check("a revoked lease allocates nothing",
          c.Allocate(lease, host, 1, {}, 0, &code) == 0 && code == grpc::StatusCode::NOT_FOUND, std::to_string(code));
  c.Check("its ports are free again", c.Allocate(other, host, 11, {}, explicit_port, &code) == explicit_port,
          std::to_string(code));
  (void)c.Revoke(other);
  return c.failed() ? 1 : 0;
}
