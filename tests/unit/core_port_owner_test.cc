#include <catch2/catch.hpp>

#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/port_owner.h"

using namespace skyport;

namespace {

// A listening socket on 127.0.0.1, port chosen by the kernel.
struct Listener {
  int fd = -1;
  uint32_t port = 0;
  // A port below the kernel's ephemeral range (32768 up by default): once
  // closed, no outgoing connection of a test running beside this one can be
  // holding it, so "free again" is a fact about this test alone.
  Listener() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool bound = false;
    for (uint32_t p = 24000 + static_cast<uint32_t>(getpid()) % 4000, n = 0; n < 4000 && !bound; ++n, ++p) {
      a.sin_port = htons(static_cast<uint16_t>(24000 + p % 8000));
      bound = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    REQUIRE(bound);
    REQUIRE(listen(fd, 4) == 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { close(fd); }
};

}  // namespace

TEST_CASE("ParseProcNetTcp reads port, state and inode; skips what is malformed", "[core]") {
  const std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:0FA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 "
      "0000000000000000 100 0 0 10 0\n"
      "   1: 0100007F:9C40 0100007F:0FA1 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1\n"
      "   2: 0100007F:1F90 00000000:0000 06 00000000:00000000 03:00000A2B 00000000     0        0 0 3\n"
      "   3: garbage\n"
      "   4: 0100007F:ZZZZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 7 1\n";
  auto v = ParseProcNetTcp(text);
  REQUIRE(v.size() == 3);
  CHECK(v[0].local_port == 4001);
  CHECK(v[0].state == kTcpListen);
  CHECK(v[0].inode == 31337);
  CHECK(v[1].local_port == 40000);
  CHECK(v[1].state == 1);
  CHECK(v[1].inode == 4242);
  CHECK(v[2].local_port == 8080);
  CHECK(v[2].inode == 0);  // TIME_WAIT: no inode
  // IPv6 lines have a longer address; the port is after the last ':'.
  auto v6 = ParseProcNetTcp(
      "header\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
      "00000000:00000000 00:00000000 00000000  1000        0 99 1\n");
  REQUIRE(v6.size() == 1);
  CHECK(v6[0].local_port == 8080);
  CHECK(v6[0].inode == 99);
  CHECK(ParseProcNetTcp("").empty());
  CHECK(ParseProcNetTcp(text, 2).size() == 2);  // the line bound
}

TEST_CASE("SocketInode", "[core]") {
  CHECK(SocketInode("socket:[12345]") == 12345u);
  CHECK_FALSE(SocketInode("pipe:[12345]"));
  CHECK_FALSE(SocketInode("socket:[12x]"));
  CHECK_FALSE(SocketInode("/dev/null"));
}

TEST_CASE("CheckListener: ours, nobody, or a stranger named by pid", "[core]") {
  Listener l;
  CHECK_FALSE(PortIsFree(l.port));
  CHECK(ListeningInodes(l.port).size() == 1);
  CHECK(SocketInodesOf(getpid()).count(*ListeningInodes(l.port).begin()) == 1);

  // A child in its own group: our listener is a stranger to its tree.
  int sync[2];
  REQUIRE(pipe(sync) == 0);
  pid_t child = fork();
  if (child == 0) {
    setpgid(0, 0);
    close(l.fd);  // inherited: the listener must be the parent's only
    char c = 1;
    (void)!write(sync[1], &c, 1);
    pause();
    _exit(0);
  }
  REQUIRE(child > 0);
  setpgid(child, child);
  char c = 0;
  REQUIRE(read(sync[0], &c, 1) == 1);
  close(sync[0]);
  close(sync[1]);
  PortOwner owner;
  CHECK(CheckListener(l.port, child, &owner) == ListenerCheck::kStranger);
  CHECK(owner.pid == getpid());
  CHECK(owner.Describe(l.port).find("held by pid") != std::string::npos);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  // Our own group owns it.
  CHECK(CheckListener(l.port, getpgrp(), nullptr) == ListenerCheck::kOurs);

  uint32_t port = l.port;
  close(l.fd);
  l.fd = -1;
  CHECK(CheckListener(port, getpgrp(), nullptr) == ListenerCheck::kNone);
  CHECK(PortIsFree(port));
}

// Root without CAP_SYS_PTRACE (Docker's default capabilities) lists another user's
// /proc/PID/fd (CAP_DAC_OVERRIDE) but reads none of its links: the instance's own listener
// must be reported as unreadable, naming the capability, not as a stranger's.
TEST_CASE("CheckListener: another user's sockets unreadable without CAP_SYS_PTRACE are said so", "[core]") {
  if (geteuid() != 0) {
    WARN("skipped: needs root (an instance of another uid, and a capability to drop)");
    return;
  }
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t app = fork();
  if (app == 0) {  // the instance: its own group, another uid, a listener
    setpgid(0, 0);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    Listener l;
    uint32_t port = l.port;
    (void)!write(ready[1], &port, sizeof port);
    pause();
    _exit(0);
  }
  REQUIRE(app > 0);
  setpgid(app, app);
  uint32_t port = 0;
  REQUIRE(read(ready[0], &port, sizeof port) == sizeof port);
  close(ready[0]);
  close(ready[1]);

  int verdict[2];
  REQUIRE(pipe(verdict) == 0);
  pid_t checker = fork();
  if (checker == 0) {  // the drone, as root in a container: CAP_SYS_PTRACE dropped
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    if (syscall(SYS_capget, &h, d) != 0) _exit(3);
    d[CAP_SYS_PTRACE / 32].effective &= ~(1u << (CAP_SYS_PTRACE % 32));
    d[CAP_SYS_PTRACE / 32].permitted &= ~(1u << (CAP_SYS_PTRACE % 32));
    if (syscall(SYS_capset, &h, d) != 0) _exit(3);
    PortOwner owner;
    const bool stranger = CheckListener(port, app, &owner) == ListenerCheck::kStranger;
    const std::string said = owner.Describe(port);
    const char out = !stranger ? 'o' : owner.hidden != app ? 'h' : said.find("CAP_SYS_PTRACE") == std::string::npos ? 'm' : 'y';
    (void)!write(verdict[1], &out, 1);
    _exit(0);
  }
  REQUIRE(checker > 0);
  char got = 0;
  REQUIRE(read(verdict[0], &got, 1) == 1);
  close(verdict[0]);
  close(verdict[1]);
  waitpid(checker, nullptr, 0);
  kill(app, SIGKILL);
  waitpid(app, nullptr, 0);
  // y: unreadable, named with the capability. o: called ours (cannot be known); h: the
  // instance not named as unreadable (the bug: opendir passed, readlink failed); m: no hint.
  CHECK(got == 'y');
}
