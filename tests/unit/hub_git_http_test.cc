// The git HTTP server driven by the real git client (and by raw HTTP for the
// requests git would never send).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "hub/git/git_http.h"
#include "hub/git/pktline.h"
#include "hub/git/repo_store.h"
#include "hub_test_util.h"

namespace skyport::hub {
namespace {

using testing::Git;
using testing::Run;
using testing::TempDir;
using testing::Trim;
using testing::WriteFile;

const char kToken[] = "s3cret-token";
const char kAuth[] = "Authorization: Basic eDpzM2NyZXQtdG9rZW4=\r\n";  // x:s3cret-token

struct Hub {
  TempDir tmp;
  std::unique_ptr<RepoStore> store;
  std::unique_ptr<GitHttpServer> server;
  std::mutex mu;
  std::vector<PushEvent> events;

  explicit Hub(uint64_t max_body = 2ull << 30, int max_pushes_per_client = 2) {
    store = std::move(RepoStore::Open(tmp.path() + "/repos").value());
    GitHttpOptions o;
    o.listen = "127.0.0.1:0";
    o.max_pushes_per_client = max_pushes_per_client;
    o.token = kToken;
    o.max_body_bytes = max_body;
    o.allow_non_ff = [](const std::string& app, const std::string& ref) {
      return app == "webapp" && ref == "refs/heads/scratch";
    };
    o.on_push = [this](const PushEvent& e) {
      std::lock_guard<std::mutex> l(mu);
      events.push_back(e);
    };
    auto s = GitHttpServer::Start(store.get(), o);
    REQUIRE(s.ok());
    server = std::move(*s);
  }
  std::string Url(const std::string& token = kToken, const std::string& repo = "webapp.git") {
    return "http://x:" + token + "@127.0.0.1:" + std::to_string(server->port()) + "/" + repo;
  }
  std::string ServerGit() { return Git(tmp.path(), store->RepoPath("webapp")); }
  std::string Refs() { return Run(ServerGit() + "for-each-ref").out; }
  bool HasObject(const std::string& id) { return Run(ServerGit() + "cat-file -e " + id).exit == 0; }
  // Only the repositories and the (empty) quarantine area.
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(tmp.path() + "/repos")) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
};

// Sends `request` as is on a fresh connection and returns everything until the server closes.
std::string RawHttp(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

int StatusOf(const std::string& response) {
  if (response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string Post(const std::string& path, const std::string& body, const std::string& extra = kAuth) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra +
         "Content-Type: application/x-git-receive-pack-request\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string Get(const std::string& path, const std::string& extra = kAuth) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + "\r\n";
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_CASE("git push over HTTP: the whole life of a repository", "[hub][git-http]") {
  Hub hub;
  std::string home = hub.tmp.path();
  std::string work = home + "/work";
  std::string head = testing::MakeWorkRepo(home, work);
  auto git = [&](const std::string& args) { return Run(Git(home, work) + args); };
  REQUIRE(git("remote add origin " + hub.Url()).exit == 0);
  auto local = [&](const std::string& rev) { return Trim(git("rev-parse " + rev).out); };

  // First push creates the repository.
  auto r = git("push origin master");
  INFO(r.out);
  REQUIRE(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "master").value() == head);
  CHECK(Trim(Run(hub.ServerGit() + "symbolic-ref HEAD").out) == "refs/heads/master");
  CHECK(hub.store->Apps() == std::vector<std::string>{"webapp"});

  // A new branch at the same commit (empty pack).
  r = git("push origin master:feature");
  INFO(r.out);
  REQUIRE(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "feature").value() == head);

  // Fast-forward that travels as a thin pack: a big text file, then a small edit to it.
  std::string text;
  for (int i = 0; i < 40000; ++i) text += "line " + std::to_string(i) + " of a file that deltas well\n";
  WriteFile(work + "/big.txt", text);
  REQUIRE(git("add big.txt && " + Git(home, work) + "commit -q -m big").exit == 0);
  REQUIRE(git("push origin master").exit == 0);
  WriteFile(work + "/big.txt", text + "one more line\n");
  REQUIRE(git("commit -q -am edit").exit == 0);
  r = git("push origin master");
  INFO(r.out);
  REQUIRE(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "master").value() == local("HEAD"));

  // 5 MB of incompressible data: over http.postBuffer, so the body is chunked.
  WriteFile(work + "/blob.bin", RandomBytes(5 << 20, 7));
  REQUIRE(git("add blob.bin && " + Git(home, work) + "commit -q -m blob").exit == 0);
  r = git("push origin master");
  INFO(r.out);
  REQUIRE(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "master").value() == local("HEAD"));

  // Annotated tag.
  REQUIRE(git("tag -a v1 -m release").exit == 0);
  r = git("push origin v1");
  INFO(r.out);
  REQUIRE(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "v1").value() == local("HEAD"));
  CHECK(Trim(Run(hub.ServerGit() + "cat-file -t v1").out) == "tag");

  // Non-fast-forward is refused even with --force, and its objects do not land.
  std::string good = local("HEAD");
  REQUIRE(git("checkout -q -b rewrite HEAD~1").exit == 0);
  WriteFile(work + "/rewrite.txt", "a different history\n");
  REQUIRE(git("add rewrite.txt && " + Git(home, work) + "commit -q -m rewrite").exit == 0);
  std::string rewrite = local("HEAD");
  std::string refs_before = hub.Refs();
  r = git("push --force origin rewrite:master");
  INFO(r.out);
  CHECK(r.exit != 0);
  CHECK(r.out.find("non-fast-forward") != std::string::npos);
  CHECK(hub.store->Resolve("webapp", "master").value() == good);
  CHECK(hub.Refs() == refs_before);
  CHECK(!hub.HasObject(rewrite));

  // ... unless the policy allows it for that ref.
  REQUIRE(git("push origin " + good + ":refs/heads/scratch").exit == 0);
  r = git("push --force origin rewrite:scratch");
  INFO(r.out);
  CHECK(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "scratch").value() == rewrite);

  // Branch delete.
  r = git("push origin :feature");
  INFO(r.out);
  CHECK(r.exit == 0);
  CHECK(hub.store->Resolve("webapp", "feature").status().code() == Code::kNotFound);

  // A wrong token changes nothing.
  refs_before = hub.Refs();
  WriteFile(work + "/x.txt", "x\n");
  REQUIRE(git("add x.txt && " + Git(home, work) + "commit -q -m x").exit == 0);
  r = git("push " + hub.Url("wrong") + " HEAD:refs/heads/intruder");
  INFO(r.out);
  CHECK(r.exit != 0);
  CHECK(hub.Refs() == refs_before);
  CHECK(!hub.HasObject(local("HEAD")));

  // Clone is refused with a clear message.
  r = Run(Git(home, home) + "clone " + hub.Url() + " clone-dir");
  INFO(r.out);
  CHECK(r.exit != 0);
  CHECK(r.out.find("fetch/clone is not served; push only") != std::string::npos);

  // The repository is sound, and nothing is left in quarantine.
  r = Run(hub.ServerGit() + "fsck --strict");
  INFO(r.out);
  CHECK(r.exit == 0);
  CHECK(std::filesystem::is_empty(hub.store->IncomingDir()));

  std::lock_guard<std::mutex> l(hub.mu);
  REQUIRE(!hub.events.empty());
  CHECK(hub.events.front().app == "webapp");
  CHECK(hub.events.front().updates.at(0).ref == "refs/heads/master");
  CHECK(hub.events.front().updates.at(0).ok);
}

TEST_CASE("git HTTP: bad repository names create nothing", "[hub][git-http]") {
  Hub hub;
  int port = hub.server->port();
  for (const char* path : {"/../x.git", "/Web.git", "/a/b.git", "/x%2F..git"}) {
    INFO(path);
    int code = StatusOf(RawHttp(port, Get(std::string(path) + "/info/refs?service=git-receive-pack")));
    CHECK((code == 400 || code == 404));
    code = StatusOf(RawHttp(port, Post(std::string(path) + "/git-receive-pack", "0000")));
    CHECK((code == 400 || code == 404));
  }
  std::string home = hub.tmp.path();
  testing::MakeWorkRepo(home, home + "/work");
  auto r = Run(Git(home, home + "/work") + "push " + hub.Url(kToken, "Web.git") + " master");
  INFO(r.out);
  CHECK(r.exit != 0);
  CHECK(hub.Entries() == std::vector<std::string>{".incoming"});
  CHECK(!std::filesystem::exists(hub.tmp.path() + "/x.git"));
}

TEST_CASE("git HTTP: status codes for auth, methods, paths and fetch", "[hub][git-http]") {
  Hub hub;
  int port = hub.server->port();
  std::string adv = "/webapp.git/info/refs?service=git-receive-pack";

  std::string res = RawHttp(port, Get(adv, ""));
  CHECK(StatusOf(res) == 401);
  CHECK(res.find("WWW-Authenticate: Basic realm=\"skyport\"") != std::string::npos);
  CHECK(StatusOf(RawHttp(port, Get(adv, "Authorization: Basic eDp3cm9uZw==\r\n"))) == 401);  // x:wrong
  CHECK(StatusOf(RawHttp(port, Post("/webapp.git/git-receive-pack", "0000", ""))) == 401);

  res = RawHttp(port, Get(adv));
  CHECK(StatusOf(res) == 200);
  CHECK(res.find("Content-Type: application/x-git-receive-pack-advertisement") != std::string::npos);
  CHECK(res.find("001f# service=git-receive-pack\n0000") != std::string::npos);
  CHECK(res.find("capabilities^{}") != std::string::npos);
  CHECK(hub.store->Apps().empty());  // reading refs does not create the repository

  res = RawHttp(port, Get("/webapp.git/info/refs?service=git-upload-pack"));
  CHECK(StatusOf(res) == 403);
  CHECK(res.find("fetch/clone is not served; push only") != std::string::npos);
  CHECK(StatusOf(RawHttp(port, Get("/webapp.git/info/refs", ""))) == 403);  // dumb protocol
  CHECK(StatusOf(RawHttp(port, Post("/webapp.git/git-upload-pack", "0000"))) == 403);

  CHECK(StatusOf(RawHttp(port, Get("/webapp.git/HEAD"))) == 404);
  CHECK(StatusOf(RawHttp(port, Get("/"))) == 404);
  res = RawHttp(port, Post(adv, "0000"));
  CHECK(StatusOf(res) == 405);
  CHECK(res.find("Allow: GET") != std::string::npos);
  CHECK(StatusOf(RawHttp(port, Get("/webapp.git/git-receive-pack"))) == 405);

  CHECK(StatusOf(RawHttp(port, "GARBAGE\r\n\r\n")) == 400);
}

TEST_CASE("git HTTP: body framing — probe, chunked, gzip, Expect, limits, malformed", "[hub][git-http]") {
  Hub hub(64 * 1024);
  int port = hub.server->port();
  const std::string path = "/webapp.git/git-receive-pack";

  // git's "0000" probe before a big push: 200 with an empty body.
  std::string res = RawHttp(port, Post(path, "0000"));
  CHECK(StatusOf(res) == 200);
  CHECK(res.find("Content-Type: application/x-git-receive-pack-result") != std::string::npos);

  // The same body, chunked.
  res = RawHttp(port, "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + kAuth +
                          "Transfer-Encoding: chunked\r\n\r\n2\r\n00\r\n2\r\n00\r\n0\r\n\r\n");
  CHECK(StatusOf(res) == 200);

  // Gzip-encoded.
  std::string gz(64, '\0');
  {
    z_stream z{};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>("0000"));
    z.avail_in = 4;
    z.next_out = reinterpret_cast<Bytef*>(gz.data());
    z.avail_out = static_cast<uInt>(gz.size());
    deflate(&z, Z_FINISH);
    gz.resize(z.total_out);
    deflateEnd(&z);
  }
  CHECK(StatusOf(RawHttp(port, Post(path, gz, std::string(kAuth) + "Content-Encoding: gzip\r\n"))) == 200);
  CHECK(StatusOf(RawHttp(port, Post(path, "not gzip", std::string(kAuth) + "Content-Encoding: gzip\r\n"))) == 400);
  CHECK(StatusOf(RawHttp(port, Post(path, "0000", std::string(kAuth) + "Content-Encoding: br\r\n"))) == 415);

  // Expect: 100-continue gets an interim 100 before the final answer.
  res = RawHttp(port, Post(path, "0000", std::string(kAuth) + "Expect: 100-continue\r\n"));
  CHECK(res.rfind("HTTP/1.1 100 Continue", 0) == 0);
  CHECK(res.find("HTTP/1.1 200") != std::string::npos);

  // Over the limit: declared, and chunked.
  CHECK(StatusOf(RawHttp(port, Post(path, std::string(100 * 1024, '0')))) == 413);
  std::string chunked = "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + kAuth +
                        "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) chunked += "1000\r\n" + std::string(4096, '0') + "\r\n";
  chunked += "0\r\n\r\n";
  CHECK(StatusOf(RawHttp(port, chunked)) == 413);

  // Malformed pkt-lines and command lists: 400, nothing created.
  for (const std::string& body : {std::string("zzzz"), std::string("0032short"), std::string(""),
                                  pkt::EncodeShort("not a command\n") + "0000"}) {
    INFO(body);
    CHECK(StatusOf(RawHttp(port, Post(path, body))) == 400);
  }
  CHECK(hub.store->Apps().empty());

  // A well-formed command with a corrupt pack: unpack error, nothing changes.
  std::string zero(40, '0'), some(40, 'a');
  std::string body = pkt::EncodeShort(zero + " " + some + " refs/heads/master" + std::string(1, '\0') +
                                      "report-status\n") +
                     "0000" + std::string("PACK\0\0\0\2\0\0\0\1junkjunkjunk", 24);
  res = RawHttp(port, Post(path, body));
  CHECK(StatusOf(res) == 200);
  CHECK(res.find("unpack ") != std::string::npos);
  CHECK(res.find("unpack ok") == std::string::npos);
  CHECK(res.find("ng refs/heads/master unpacker error") != std::string::npos);
  CHECK(hub.store->Apps().empty());
}

TEST_CASE("git HTTP: concurrent pushes to one repository both land", "[hub][git-http]") {
  Hub hub(2ull << 30, 3);  // three pushes at once from this one address: within its per-client cap
  std::string home = hub.tmp.path();
  std::string work = home + "/work";
  testing::MakeWorkRepo(home, work);
  auto git = [&](const std::string& args) { return Run(Git(home, work) + args); };
  REQUIRE(git("push " + hub.Url() + " master").exit == 0);
  for (const char* b : {"a", "b", "c"}) {
    REQUIRE(git(std::string("checkout -q -b ") + b + " master").exit == 0);
    WriteFile(work + "/" + b + ".txt", RandomBytes(300000, static_cast<uint32_t>(b[0])));
    REQUIRE(git(std::string("add -A && ") + Git(home, work) + "commit -q -m " + b).exit == 0);
  }
  std::string push = Git(home, work) + "push -q " + hub.Url() + " ";
  auto r = Run("(" + push + "a) & p1=$!; (" + push + "b) & p2=$!; " + push + "c; r3=$?; wait $p1; r1=$?; wait $p2; r2=$?; "
               "exit $((r1 + r2 + r3))");
  INFO(r.out);
  CHECK(r.exit == 0);
  for (const char* b : {"a", "b", "c"}) CHECK(hub.store->Resolve("webapp", b).value() == Trim(git(std::string("rev-parse ") + b).out));
  CHECK(Run(hub.ServerGit() + "fsck --strict").exit == 0);
}

TEST_CASE("git HTTP: keep-alive serves several requests on one connection", "[hub][git-http]") {
  Hub hub;
  std::string req = "GET /webapp.git/info/refs?service=git-receive-pack HTTP/1.1\r\nHost: x\r\n" +
                    std::string(kAuth) + "\r\n";
  std::string res = RawHttp(hub.server->port(), req + req + Get("/webapp.git/info/refs?service=git-receive-pack"));
  size_t count = 0;
  for (size_t p = res.find("HTTP/1.1 200"); p != std::string::npos; p = res.find("HTTP/1.1 200", p + 1)) ++count;
  CHECK(count == 3);
}

}  // namespace
}  // namespace skyport::hub
