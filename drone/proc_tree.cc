#include "drone/proc_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace skyport::drone {
namespace {

// Up to `cap` bytes of a /proc file.
std::string ReadCapped(const std::string& path, size_t cap) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  while (out.size() < cap) {
    ssize_t n = read(fd, buf, std::min(sizeof buf, cap - out.size()));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace

std::set<pid_t> Descendants(const std::vector<ProcStat>& procs, const std::set<pid_t>& roots, pid_t pgid) {
  std::map<pid_t, const ProcStat*> by_pid;
  std::multimap<pid_t, pid_t> children;
  for (const auto& p : procs) {
    by_pid[p.pid] = &p;
    children.emplace(p.ppid, p.pid);
  }
  std::set<pid_t> out;
  std::vector<pid_t> todo;
  auto add = [&](pid_t pid) {
    auto it = by_pid.find(pid);
    if (pid > 1 && it != by_pid.end() && it->second->state != 'Z' && out.insert(pid).second) todo.push_back(pid);
  };
  for (pid_t r : roots) add(r);
  if (pgid > 1)
    for (const auto& p : procs)
      if (p.pgid == pgid) add(p.pid);
  while (!todo.empty()) {
    pid_t pid = todo.back();
    todo.pop_back();
    auto [b, e] = children.equal_range(pid);
    for (auto it = b; it != e; ++it) add(it->second);
  }
  return out;
}

std::map<std::string, std::string> ParseEnviron(std::string_view text, size_t max_entries) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size() && out.size() < max_entries) {
    size_t end = text.find('\0', pos);
    std::string_view kv = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos && eq > 0) out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return out;
}

std::string InstanceFromEnviron(const std::map<std::string, std::string>& env, const std::string& drone) {
  auto get = [&](const char* k) -> const std::string* {
    auto it = env.find(k);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  };
  const std::string* d = get("SKYPORT_DRONE");
  const std::string *app = get("SKYPORT_APP"), *commit = get("SKYPORT_COMMIT"), *role = get("SKYPORT_ROLE"),
                    *inst = get("SKYPORT_INSTANCE");
  if (!d || *d != drone || !app || !commit || !role || !inst) return "";
  return fmt::format("{}@{}/{}.{}", *app, *commit, *role, *inst);
}

std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string text = ReadCapped(fmt::format("/proc/self/task/{}/children", e->d_name), 1 << 16);
    std::istringstream in(text);
    pid_t pid;
    while (in >> pid) out.push_back(pid);
  }
  closedir(dir);
  return out;
}

std::string ReadEnviron(pid_t pid) { return ReadCapped(fmt::format("/proc/{}/environ", pid), 1 << 20); }

std::string ReadCmdline(pid_t pid) {
  std::string s = ReadCapped(fmt::format("/proc/{}/cmdline", pid), 200);
  for (char& c : s)
    if (c == '\0') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace skyport::drone
