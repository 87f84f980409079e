#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <string>

#include "hub/git/git_route.h"
#include "hub/git/gunzip.h"

namespace skyport::hub {
namespace {

TEST_CASE("ParseGitTarget: endpoints, with and without .git", "[hub][route]") {
  auto a = ParseGitTarget("/webapp.git/info/refs?service=git-receive-pack");
  REQUIRE(a.ok());
  CHECK(a->kind == GitRoute::Kind::kInfoRefs);
  CHECK(a->app == "webapp");
  CHECK(a->service == "git-receive-pack");
  auto b = ParseGitTarget("/webapp/git-receive-pack");
  REQUIRE(b.ok());
  CHECK(b->kind == GitRoute::Kind::kReceivePack);
  CHECK(b->app == "webapp");
  auto c = ParseGitTarget("/my-app-2.git/git-upload-pack");
  REQUIRE(c.ok());
  CHECK(c->kind == GitRoute::Kind::kUploadPack);
  auto d = ParseGitTarget("/x.git/info/refs?foo=1&service=git-upload-pack");
  REQUIRE(d.ok());
  CHECK(d->service == "git-upload-pack");
  CHECK(ParseGitTarget("/x.git/info/refs")->service.empty());
}

TEST_CASE("ParseGitTarget: bad names are INVALID_ARGUMENT, other paths NOT_FOUND", "[hub][route]") {
  for (const char* t : {"/../x.git/info/refs", "/Web.git/info/refs", "/a/b.git/info/refs", "/.git/info/refs",
                        "/-x.git/git-receive-pack", "/x..git/git-receive-pack", "/x%2fy.git/info/refs"}) {
    INFO(t);
    CHECK(ParseGitTarget(t).status().code() == Code::kInvalidArgument);
  }
  for (const char* t : {"/", "/x.git", "/x.git/HEAD", "/x.git/objects/info/packs", "info/refs", "/info/refs"}) {
    INFO(t);
    CHECK(ParseGitTarget(t).status().code() == Code::kNotFound);
  }
}

TEST_CASE("BasicAuthPassword", "[hub][route]") {
  CHECK(BasicAuthPassword("Basic eDpzM2NyZXQ=") == std::optional<std::string>("s3cret"));  // x:s3cret
  CHECK(BasicAuthPassword("basic  eDpzM2NyZXQ= ") == std::optional<std::string>("s3cret"));
  CHECK(BasicAuthPassword("Basic OmE6Yg==") == std::optional<std::string>("a:b"));  // ":a:b": password may hold ':'
  CHECK(!BasicAuthPassword(""));
  CHECK(!BasicAuthPassword("Bearer abc"));
  CHECK(!BasicAuthPassword("Basic !!!!"));
  CHECK(!BasicAuthPassword("Basic bm9jb2xvbg=="));  // "nocolon"
}

std::string GzipOf(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Gunzip::Sink Into(std::string* out) {
  return [out](std::string_view piece) {
    out->append(piece);
    return Status::Ok();
  };
}

TEST_CASE("Gunzip: streams, limits, rejects garbage and truncation", "[hub][gunzip]") {
  std::string plain;
  for (int i = 0; i < 200000; ++i) plain += static_cast<char>('a' + i % 7);
  std::string gz = GzipOf(plain);
  {
    Gunzip g(1 << 20);
    std::string out;
    for (size_t i = 0; i < gz.size(); i += 333) REQUIRE(g.Feed(std::string_view(gz).substr(i, 333), Into(&out)).ok());
    CHECK(g.Finish().ok());
    CHECK(out == plain);
  }
  {
    Gunzip g(1000);
    std::string out;
    CHECK(g.Feed(gz, Into(&out)).code() == Code::kResourceExhausted);
  }
  {
    Gunzip g(1 << 20);
    std::string out;
    CHECK(g.Feed("not gzip at all", Into(&out)).code() == Code::kInvalidArgument);
  }
  {
    Gunzip g(1 << 20);
    std::string out;
    REQUIRE(g.Feed(std::string_view(gz).substr(0, gz.size() / 2), Into(&out)).ok());
    CHECK(g.Finish().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("Gunzip: a bomb chunk is handed over in bounded pieces, the total bound holds", "[hub][gunzip]") {
  // 64 MiB of zeros compress to ~64 KiB: one network read of the body.
  std::string gz = GzipOf(std::string(64u << 20, '\0'));
  REQUIRE(gz.size() < 100 * 1024);
  {
    Gunzip g(128u << 20);
    size_t largest = 0, total = 0, calls = 0;
    REQUIRE(g.Feed(gz, [&](std::string_view piece) {
                  largest = std::max(largest, piece.size());
                  total += piece.size();
                  ++calls;
                  return Status::Ok();
                }).ok());
    CHECK(g.Finish().ok());
    CHECK(total == (64u << 20));
    CHECK(largest <= Gunzip::kMaxPiece);  // the memory one call holds, whatever the ratio
    CHECK(calls >= (64u << 20) / Gunzip::kMaxPiece);
  }
  {
    Gunzip g(1u << 20);  // total bound still bites, after at most 1 MiB + one piece
    size_t total = 0;
    CHECK(g.Feed(gz, [&](std::string_view piece) {
             total += piece.size();
             return Status::Ok();
           }).code() == Code::kResourceExhausted);
    CHECK(total <= (1u << 20) + Gunzip::kMaxPiece);
  }
  {
    Gunzip g(128u << 20);  // the consumer's error stops decoding and sticks
    int calls = 0;
    CHECK(g.Feed(gz, [&](std::string_view) {
             ++calls;
             return Status::InvalidArgument("consumer refused");
           }).code() == Code::kInvalidArgument);
    CHECK(calls == 1);
    CHECK(!g.Finish().ok());
  }
}

TEST_CASE("ParseGitTarget: encoded dots, traversal and over-long names are refused", "[hub][route]") {
  for (std::string t : {std::string("/%2e%2e.git/info/refs"), std::string("/%2E%2E/x.git/git-receive-pack"),
                        std::string("/../x.git/git-receive-pack"), std::string("/x/../../y.git/info/refs"),
                        "/" + std::string(300, 'a') + ".git/git-receive-pack", std::string("/a%00.git/info/refs")}) {
    INFO(t);
    auto r = ParseGitTarget(t);
    CHECK(!r.ok());
  }
}

}  // namespace
}  // namespace skyport::hub
