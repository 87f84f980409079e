// Who listens on a TCP port of this machine. The readiness probe only proves
// that *someone* accepts connections on an instance's port; before an
// instance is declared ready the drone checks that every LISTEN socket on
// that port belongs to the instance's own processes (the inode of the socket
// in /proc/net/tcp{,6} among the socket fds in /proc/PID/fd of the instance's
// process tree). A stranger's listener is a port clash: the instance is not
// ready and the port is allocated again. Before spawning, the drone checks
// the port is free by binding it (PortIsFree).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace skyport {

struct TcpSocketEntry {
  uint32_t local_port = 0;
  int state = 0;       // the kernel's TCP state number; 0x0A is LISTEN
  uint64_t inode = 0;  // 0 for sockets in TIME_WAIT and the like
};
inline constexpr int kTcpListen = 0x0A;

// Parses the text of /proc/net/tcp or /proc/net/tcp6 (header line, then
// "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
// uid timeout inode ..."). Malformed lines are skipped; at most `max_lines`
// entries are read (a bound on a table the whole machine writes to).
std::vector<TcpSocketEntry> ParseProcNetTcp(std::string_view text, size_t max_lines = 1'000'000);

// Inodes of the LISTEN sockets on `port` (IPv4 and IPv6), from /proc.
std::set<uint64_t> ListeningInodes(uint32_t port);

// "socket:[12345]" -> 12345; nullopt for anything else.
std::optional<uint64_t> SocketInode(std::string_view link);

// The socket inodes among the open fds of `pid` (unreadable fds are skipped).
std::set<uint64_t> SocketInodesOf(pid_t pid);

// The instance's processes: the members of group `pgid`, the processes in
// `roots` (escaped daemons orphaned to the supervisor), and every descendant
// of them (a child that left the group with setsid() included).
std::vector<pid_t> ProcessTree(pid_t pgid, const std::vector<pid_t>& roots = {});

struct PortOwner {
  pid_t pid = 0;        // 0 when no visible process holds it
  std::string command;  // /proc/PID/comm
  // With pid 0: a process of the instance whose fds we may not read (another
  // user's, or not dumpable), which may be the one that holds the port.
  pid_t hidden = 0;
  std::string hidden_command;
  std::string Describe(uint32_t port) const;  // "port 4001 is held by pid 77 (python3)"
};

enum class ListenerCheck {
  kOurs,      // at least one listener, every one of them in the tree
  kNone,      // nobody listens on the port
  kStranger,  // a listener outside the tree
};

// Checks the port's listeners against the tree of `pgid`. When a stranger
// holds it, `owner` says who if a visible process has that socket open.
// `also_ours`: processes of the instance outside its group (escaped daemons
// the supervisor tracks), whose listeners, and their descendants', count as
// the instance's too.
ListenerCheck CheckListener(uint32_t port, pid_t pgid, PortOwner* owner, const std::vector<pid_t>& also_ours = {});

// True when nothing holds `port` on any local address: binding 0.0.0.0:PORT
// and [::]:PORT (SO_REUSEADDR, so TIME_WAIT leftovers do not count) works.
bool PortIsFree(uint32_t port);

}  // namespace skyport
