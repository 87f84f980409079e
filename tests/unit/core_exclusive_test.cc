#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/exclusive.h"
#include "tests/unit/test_util.h"

namespace skyport {
namespace {

using testing::Slurp;
using testing::TempDir;

// A listening socket on 127.0.0.1 (any port), optionally in an SO_REUSEPORT group.
struct Listener {
  explicit Listener(bool reuseport) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  int fd;
  int port;
};

TEST_CASE("ListenError: says which address is taken and by what kind of program", "[core][exclusive]") {
  Status s = ListenError("127.0.0.1:6000", EADDRINUSE);
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message() == std::string("address 127.0.0.1:6000 is in use (another ") + program_invocation_short_name + "?)");
  CHECK(ListenError("10.9.9.9:80", EADDRNOTAVAIL).message() ==
        "cannot listen on 10.9.9.9:80: Cannot assign requested address");
}

TEST_CASE("ProbeListen: a taken address fails, SO_REUSEPORT groups included", "[core][exclusive]") {
  for (bool reuseport : {false, true}) {
    INFO("reuseport " << reuseport);
    std::string address;
    {
      Listener l(reuseport);
      address = l.address();
      Status s = ProbeListen(address);
      CHECK(s.code() == Code::kUnavailable);
      CHECK_THAT(s.message(), Catch::StartsWith("address " + address + " is in use (another "));
    }
    CHECK(ProbeListen(address).ok());  // free again
  }
  CHECK(ProbeListen("127.0.0.1:0").ok());
  CHECK(ProbeListen("localhost").code() == Code::kInvalidArgument);
}

TEST_CASE("DataDirLock: one holder at a time, named by pid; freed when released", "[core][exclusive]") {
  TempDir tmp;
  const std::string dir = tmp.path() + "/a/b";  // made when missing
  auto first = DataDirLock::Acquire(dir);
  REQUIRE(first.ok());
  CHECK((*first)->path() == dir + "/LOCK");
  CHECK(Slurp(dir + "/LOCK") == std::to_string(::getpid()) + "\n");

  // flock locks belong to the open file: a second open in this process conflicts like another process would.
  auto second = DataDirLock::Acquire(dir);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Code::kFailedPrecondition);
  CHECK(second.status().message() ==
        "data dir " + dir + " is in use by pid " + std::to_string(::getpid()) + " (another " +
            program_invocation_short_name + "?): stop it, or give this one another --data");

  first->reset();
  auto again = DataDirLock::Acquire(dir);
  REQUIRE(again.ok());
}

TEST_CASE("DataDirLock: a stale LOCK file of a dead holder is no obstacle", "[core][exclusive]") {
  TempDir tmp;
  std::ofstream(tmp.path() + "/LOCK") << "999999\n";  // left by a kill -9: the kernel dropped its lock
  auto lock = DataDirLock::Acquire(tmp.path());
  REQUIRE(lock.ok());
  CHECK(Slurp(tmp.path() + "/LOCK") == std::to_string(::getpid()) + "\n");
}


TEST_CASE("ProbeListen: loopback and wildcard are taken on the other family too", "[core][exclusive]") {
  // A listener on [::1]:P; skipped where the host has no IPv6 loopback.
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return;
  }
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string port = std::to_string(ntohs(a.sin6_port));
  for (const std::string& address : {"127.0.0.1:" + port, "0.0.0.0:" + port, "[::1]:" + port}) {
    INFO(address);
    Status s = ProbeListen(address);
    CHECK(s.code() == Code::kUnavailable);
    CHECK_THAT(s.message(), Catch::Contains("is in use (another "));
  }
  CHECK_THAT(ProbeListen("127.0.0.1:" + port).message(), Catch::Contains("[::1]:" + port));
  ::close(fd);
  CHECK(ProbeListen("127.0.0.1:" + port).ok());

  // And the other way: 127.0.0.1:P taken refuses [::1]:P.
  Listener v4(false);
  Status s = ProbeListen("[::1]:" + std::to_string(v4.port));
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(), Catch::Contains("127.0.0.1:" + std::to_string(v4.port)));
}

}  // namespace
}  // namespace skyport
