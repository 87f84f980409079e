#include <catch2/catch.hpp>

#include <zlib.h>

#include <string>

#include "hub/git_route.h"
#include "hub/gunzip.h"

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

TEST_CASE("Gunzip: streams, limits, rejects garbage and truncation", "[hub][gunzip]") {
  std::string plain;
  for (int i = 0; i < 200000; ++i) plain += static_cast<char>('a' + i % 7);
  std::string gz = GzipOf(plain);
  {
    Gunzip g(1 << 20);
    std::string out;
    for (size_t i = 0; i < gz.size(); i += 333) REQUIRE(g.Feed(std::string_view(gz).substr(i, 333), &out).ok());
    CHECK(g.Finish().ok());
    CHECK(out == plain);
  }
  {
    Gunzip g(1000);
    std::string out;
    CHECK(g.Feed(gz, &out).code() == Code::kResourceExhausted);
  }
  {
    Gunzip g(1 << 20);
    std::string out;
    CHECK(g.Feed("not gzip at all", &out).code() == Code::kInvalidArgument);
  }
  {
    Gunzip g(1 << 20);
    std::string out;
    REQUIRE(g.Feed(std::string_view(gz).substr(0, gz.size() / 2), &out).ok());
    CHECK(g.Finish().code() == Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace skyport::hub
