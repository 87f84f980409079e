// A Status as gRPC carries it (proto/rpc/convert.h), through a real channel:
// an error of non-ASCII text must reach the caller as itself, not as the
// transport's complaint about an oversized trailer.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "core/problems.h"
#include "rpc/convert.h"
#include "skyport/v1/registry.grpc.pb.h"

namespace skyport::rpc {
namespace {

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n;
  }
  return true;
}

std::string Repeat(const std::string& unit, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += unit;
  return out;
}

TEST_CASE("ClipEcho cuts between UTF-8 characters", "[rpc][problems]") {
  for (const std::string unit : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x9a\x80"})
    for (size_t max : {30, 31, 32, 33, 256, 1000}) {
      const std::string got = ClipEcho("head " + Repeat(unit, 2000) + " tail", max, false);
      CHECK(ValidUtf8(got));
      CHECK_THAT(got, Catch::StartsWith("head "));
      CHECK_THAT(got, Catch::EndsWith(" tail"));
    }
}

TEST_CASE("RpcMessage: short text kept; long or non-ASCII text fits a trailer once percent-encoded", "[rpc]") {
  CHECK(RpcMessage("deploy failed: exited with 1") == "deploy failed: exited with 1");
  const std::string ascii(4096, 'a');
  CHECK(RpcMessage(ascii) == ascii);
  for (size_t n : {1000, 1500, 3000, 100000}) {
    const std::string text = "release failed: " + Repeat("\xc3\xa9", n) + " (exited with 1)";
    const std::string got = RpcMessage(text);
    size_t encoded = 0;
    for (unsigned char c : got) encoded += (c < 0x20 || c > 0x7e || c == '%') ? 3 : 1;
    CHECK(encoded <= 6144);
    CHECK(ValidUtf8(got));
    CHECK_THAT(got, Catch::StartsWith("release failed: "));
    CHECK_THAT(got, Catch::EndsWith("(exited with 1)"));
  }
}

class Failing final : public v1::Registry::Service {
 public:
  explicit Failing(std::string message) : message_(std::move(message)) {}
  grpc::Status Grant(grpc::ServerContext*, const v1::GrantRequest*, v1::GrantResponse*) override {
    return ToGrpc(Status(Code::kFailedPrecondition, message_));
  }

 private:
  std::string message_;
};

TEST_CASE("A long non-ASCII error reaches a gRPC caller as itself", "[rpc]") {
  // 3,000 two-byte characters: 6 KB of text, 18 KB percent-encoded, past the
  // receiving side's 8 KiB trailer limit before RpcMessage.
  const std::string message = "deploy failed: " + Repeat("\xc3\xa9", 3000) + " (exited with 1)";
  Failing service(message);
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  REQUIRE(server);
  REQUIRE(port > 0);
  auto stub = v1::Registry::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GrantRequest req;
  v1::GrantResponse resp;
  const grpc::Status s = stub->Grant(&ctx, req, &resp);
  CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK_THAT(s.error_message(), Catch::StartsWith("deploy failed: \xc3\xa9"));
  CHECK_THAT(s.error_message(), Catch::EndsWith("(exited with 1)"));
  server->Shutdown();
}

}  // namespace
}  // namespace skyport::rpc
