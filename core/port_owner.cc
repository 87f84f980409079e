#include "core/port_owner.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "core/proc_stat.h"

namespace skyport {
namespace {

std::string_view NextField(std::string_view& line) {
  size_t b = line.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(b);
  size_t e = line.find_first_of(" \t");
  std::string_view f = line.substr(0, e);
  line.remove_prefix(e == std::string_view::npos ? line.size() : e);
  return f;
}

template <class T>
bool ParseInt(std::string_view s, T& out, int base = 10) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string ReadProcText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Visits the fds of every process (those we may read).
template <class Fn>
void ForEachProcess(Fn fn) {
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    pid_t pid = 0;
    if (ParseInt(std::string_view(e->d_name), pid) && pid > 0 && !fn(pid)) break;
  }
  closedir(dir);
}

bool TryBind(int family, uint32_t port) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // no such family here: nothing can hold it
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    a.sin6_addr = in6addr_any;
    rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  int err = errno;
  close(fd);
  return rc == 0 || err != EADDRINUSE;
}

// False when /proc/PID/fd exists but its links may not be read (another user's process, or one
// that is not dumpable): its sockets are unknown. Listing the directory is not enough: root
// without CAP_SYS_PTRACE (a container's default) lists it (CAP_DAC_OVERRIDE) but every readlink
// fails, and the instance's own listener then looked like a stranger's.
bool FdsReadable(pid_t pid) {
  const std::string fd_dir = fmt::format("/proc/{}/fd", pid);
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) return errno != EACCES && errno != EPERM;
  bool readable = true;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    char target[64];
    if (readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target) < 0 &&
        (errno == EACCES || errno == EPERM))
      readable = false;
    break;  // one link tells
  }
  closedir(dir);
  return readable;
}

}  // namespace

std::vector<TcpSocketEntry> ParseProcNetTcp(std::string_view text, size_t max_lines) {
  std::vector<TcpSocketEntry> out;
  bool header = true;
  while (!text.empty() && out.size() < max_lines) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (header) {  // "  sl  local_address rem_address   st ..."
      header = false;
      continue;
    }
    std::string_view sl = NextField(line), local = NextField(line), remote = NextField(line), st = NextField(line);
    if (sl.empty() || sl.back() != ':' || remote.empty()) continue;
    size_t colon = local.rfind(':');
    if (colon == std::string_view::npos) continue;
    TcpSocketEntry e;
    if (!ParseInt(local.substr(colon + 1), e.local_port, 16) || e.local_port > 65535) continue;
    if (!ParseInt(st, e.state, 16)) continue;
    // tx:rx, tr:when, retrnsmt, uid, timeout, then the inode.
    std::string_view f;
    for (int i = 0; i < 6; ++i) f = NextField(line);
    if (!ParseInt(f, e.inode)) continue;
    out.push_back(e);
  }
  return out;
}

std::set<uint64_t> ListeningInodes(uint32_t port) {
  std::set<uint64_t> out;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"})
    for (const auto& e : ParseProcNetTcp(ReadProcText(path)))
      if (e.state == kTcpListen && e.local_port == port && e.inode != 0) out.insert(e.inode);
  return out;
}

std::optional<uint64_t> SocketInode(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (!link.starts_with(kPrefix) || !link.ends_with("]")) return std::nullopt;
  uint64_t inode = 0;
  if (!ParseInt(link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1), inode)) return std::nullopt;
  return inode;
}

std::set<uint64_t> SocketInodesOf(pid_t pid) {
  std::set<uint64_t> out;
  const std::string dir_path = fmt::format("/proc/{}/fd", pid);
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) return out;
  char buf[64];
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlinkat(dirfd(dir), e->d_name, buf, sizeof buf);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) continue;
    if (auto inode = SocketInode(std::string_view(buf, static_cast<size_t>(n)))) out.insert(*inode);
  }
  closedir(dir);
  return out;
}

std::vector<pid_t> ProcessTree(pid_t pgid, const std::vector<pid_t>& roots) {
  const auto all = ListProcesses();
  std::set<pid_t> tree;
  std::multimap<pid_t, pid_t> children;
  for (const auto& p : all) {
    if (p.state == 'Z') continue;
    if (pgid > 1 && p.pgid == pgid) tree.insert(p.pid);
    children.emplace(p.ppid, p.pid);
  }
  for (pid_t r : roots)
    if (r > 1) tree.insert(r);
  std::vector<pid_t> todo(tree.begin(), tree.end());
  while (!todo.empty()) {
    pid_t parent = todo.back();
    todo.pop_back();
    auto [b, e] = children.equal_range(parent);
    for (auto it = b; it != e; ++it)
      if (tree.insert(it->second).second) todo.push_back(it->second);
  }
  return {tree.begin(), tree.end()};
}

std::string PortOwner::Describe(uint32_t port) const {
  if (pid == 0 && hidden != 0)
    return fmt::format(
        "port {} is held by a process outside the instance, or by pid {} ({}) of the instance, whose sockets "
        "cannot be read (another user's, or not dumpable: run skyport as that user, or as root with "
        "CAP_SYS_PTRACE; in a container: cap_add SYS_PTRACE)",
        port, hidden, hidden_command.empty() ? "?" : hidden_command);
  if (pid == 0) return fmt::format("port {} is held by a process outside the instance", port);
  return fmt::format("port {} is held by pid {} ({})", port, pid, command.empty() ? "?" : command);
}

ListenerCheck CheckListener(uint32_t port, pid_t pgid, PortOwner* owner, const std::vector<pid_t>& also_ours) {
  std::set<uint64_t> listening;
  pid_t hidden = 0;
  for (int look = 0;; ++look) {
    listening = ListeningInodes(port);
    if (listening.empty()) return ListenerCheck::kNone;
    // also_ours and their descendants too: an escaped daemon's worker that holds the listener is
    // the instance's, not a stranger.
    for (pid_t pid : ProcessTree(pgid, also_ours)) {
      if (!FdsReadable(pid)) hidden = pid;
      for (uint64_t inode : SocketInodesOf(pid)) listening.erase(inode);
    }
    if (listening.empty()) return ListenerCheck::kOurs;
    // A listener that closed while we looked is nobody's: the instance exiting just after it
    // bound (its fds already gone, so not found in its tree) is a crash, not a port clash.
    if (look > 0) break;
    const std::set<uint64_t> now = ListeningInodes(port);
    if (std::all_of(listening.begin(), listening.end(), [&](uint64_t i) { return now.count(i) != 0; })) break;
  }
  if (owner != nullptr) {
    *owner = {};
    ForEachProcess([&](pid_t pid) {
      for (uint64_t inode : SocketInodesOf(pid))
        if (listening.count(inode)) {
          owner->pid = pid;
          owner->command = ReadProcText(fmt::format("/proc/{}/comm", pid));
          while (!owner->command.empty() && owner->command.back() == '\n') owner->command.pop_back();
          return false;
        }
      return true;
    });
    if (owner->pid == 0 && hidden != 0) {
      owner->hidden = hidden;
      owner->hidden_command = ReadProcText(fmt::format("/proc/{}/comm", hidden));
      while (!owner->hidden_command.empty() && owner->hidden_command.back() == '\n')
        owner->hidden_command.pop_back();
    }
  }
  return ListenerCheck::kStranger;
}

bool PortIsFree(uint32_t port) { return TryBind(AF_INET, port) && TryBind(AF_INET6, port); }

}  // namespace skyport
