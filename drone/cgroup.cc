#include "drone/cgroup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "core/files.h"
#include "core/hash.h"

namespace fs = std::filesystem;

namespace skyport::drone {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    size_t next = s.find(sep, pos);
    out.push_back(s.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) return out;
    pos = next + 1;
  }
}

Status WriteSmall(const std::string& path, std::string_view text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable(fmt::format("open {}: {}", path, std::strerror(errno)));
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    return Status::Unavailable(fmt::format("write {} to {}: {}", text, path, std::strerror(err)));
  return Status::Ok();
}

std::string ReadSmall(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : std::string();
}

bool HasWord(std::string_view list, std::string_view word) {
  for (auto line : Split(list, '\n'))
    for (auto w : Split(line, ' '))
      if (w == word) return true;
  return false;
}

void SleepMs(int ms) { poll(nullptr, 0, ms); }

}  // namespace

std::optional<std::string> ParseCgroup2Mount(std::string_view mountinfo) {
  for (auto line : Split(mountinfo, '\n')) {
    // "36 35 0:30 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw"
    size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    auto after = Split(line.substr(dash + 3), ' ');
    if (after.empty() || after[0] != "cgroup2") continue;
    auto before = Split(line.substr(0, dash), ' ');
    if (before.size() < 5) continue;
    return std::string(before[4]);
  }
  return std::nullopt;
}

std::optional<std::string> ParseOwnCgroup(std::string_view text) {
  for (auto line : Split(text, '\n'))
    if (line.starts_with("0::")) return std::string(line.substr(3));
  return std::nullopt;
}

std::string CpuMaxValue(double cpus) {
  constexpr int64_t kPeriod = 100'000;
  if (!(cpus > 0)) return fmt::format("max {}", kPeriod);
  int64_t quota = std::max<int64_t>(1'000, static_cast<int64_t>(std::llround(cpus * kPeriod)));
  return fmt::format("{} {}", quota, kPeriod);
}

Result<std::unique_ptr<CgroupTree>> CgroupTree::Open(const std::string& data_dir) {
  auto mount = ParseCgroup2Mount(ReadSmall("/proc/self/mountinfo"));
  if (!mount) return Status::Unavailable("no cgroup v2 file system is mounted");
  auto own = ParseOwnCgroup(ReadSmall("/proc/self/cgroup"));
  if (!own) return Status::Unavailable("the drone is in no cgroup v2");
  std::error_code ec;
  std::string key = fs::weakly_canonical(data_dir, ec).string();
  const std::string parent = *mount + (*own == "/" ? "" : *own);
  auto tree = std::make_unique<CgroupTree>();
  tree->base_ = fmt::format("{}/skyport-drone.{:016x}", parent, Fmix64(Fnv1a(key)));
  if (mkdir(tree->base_.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::Unavailable(fmt::format("mkdir {}: {}", tree->base_, std::strerror(errno)));
  if (access((tree->base_ + "/cgroup.procs").c_str(), W_OK) != 0)
    return Status::Unavailable(fmt::format("{}: not writable", tree->base_));
  // Controllers for the instances: enabled in the parent (which then must
  // hold no process itself unless it is the root: the drone moves into a
  // leaf of its own) and in our base.
  const std::string available = ReadSmall(parent + "/cgroup.controllers");
  for (const char* c : {"cpu", "memory"}) {
    if (!HasWord(available, c)) continue;
    const std::string enable = fmt::format("+{}", c);
    if (!HasWord(ReadSmall(parent + "/cgroup.subtree_control"), c) &&
        !WriteSmall(parent + "/cgroup.subtree_control", enable).ok() && *own != "/") {
      const std::string leaf = parent + "/skyport-drone.self";
      mkdir(leaf.c_str(), 0755);
      if (WriteSmall(leaf + "/cgroup.procs", "0").ok()) (void)WriteSmall(parent + "/cgroup.subtree_control", enable);
    }
    if (HasWord(ReadSmall(parent + "/cgroup.subtree_control"), c) &&
        WriteSmall(tree->base_ + "/cgroup.subtree_control", enable).ok()) {
      (std::string_view(c) == "cpu" ? tree->cpu_ : tree->memory_) = true;
    }
  }
  // Made again by the first instance: a drone that runs no app leaves nothing
  // behind, even when killed. A tree with instances in it stays (leftovers).
  rmdir(tree->base_.c_str());
  return tree;
}

Status CgroupTree::EnsureBase() {
  if (mkdir(base_.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Status::Ok();
    return Status::Unavailable(fmt::format("mkdir {}: {}", base_, std::strerror(errno)));
  }
  for (const char* c : {"cpu", "memory"})
    if ((std::string_view(c) == "cpu" ? cpu_ : memory_))
      if (Status s = WriteSmall(base_ + "/cgroup.subtree_control", fmt::format("+{}", c)); !s.ok()) return s;
  return Status::Ok();
}

Result<std::string> CgroupTree::Create(const std::string& name, const CgroupLimits& limits) {
  if (Status s = EnsureBase(); !s.ok()) return s;
  const std::string dir = base_ + "/" + name;
  if (mkdir(dir.c_str(), 0755) != 0) {
    if (errno != EEXIST) return Status::Unavailable(fmt::format("mkdir {}: {}", dir, std::strerror(errno)));
    Kill(dir);
  }
  if (limits.cpus > 0 && cpu_)
    if (Status s = WriteSmall(dir + "/cpu.max", CpuMaxValue(limits.cpus)); !s.ok()) return s;
  if (limits.memory_mb > 0 && memory_) {
    if (Status s = WriteSmall(dir + "/memory.max", std::to_string(limits.memory_mb << 20)); !s.ok()) return s;
    (void)WriteSmall(dir + "/memory.swap.max", "0");
  }
  return dir;
}

Result<int> CgroupTree::OpenProcs(const std::string& dir) {
  int fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable(fmt::format("open {}/cgroup.procs: {}", dir, std::strerror(errno)));
  return fd;
}

std::vector<pid_t> CgroupTree::Members(const std::string& dir) {
  std::vector<pid_t> out;
  std::function<void(const std::string&, int)> walk = [&](const std::string& d, int depth) {
    const std::string procs = ReadSmall(d + "/cgroup.procs");  // outlives the views into it
    for (auto line : Split(procs, '\n'))
      if (!line.empty()) out.push_back(static_cast<pid_t>(std::atoi(std::string(line).c_str())));
    if (depth > 8) return;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.is_directory(ec)) walk(e.path().string(), depth + 1);
  };
  walk(dir, 0);
  return out;
}

bool CgroupTree::Populated(const std::string& dir) {
  std::string events = ReadSmall(dir + "/cgroup.events");
  if (events.empty()) return !Members(dir).empty();
  return events.find("populated 1") != std::string::npos;
}

void CgroupTree::Signal(const std::string& dir, int sig) {
  for (pid_t pid : Members(dir))
    if (pid > 1) kill(pid, sig);
}

void CgroupTree::Kill(const std::string& dir) {
  if (WriteSmall(dir + "/cgroup.kill", "1").ok()) return;
  // Before cgroup.kill: by pid, a few rounds to catch forks in between.
  for (int round = 0; round < 10 && Populated(dir); ++round) {
    Signal(dir, SIGKILL);
    SleepMs(5);
  }
}

Status CgroupTree::Remove(const std::string& dir) {
  std::error_code ec;
  // Children first (an app may make its own sub-cgroups when delegated).
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) (void)Remove(e.path().string());
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT)
    return Status::Unavailable(fmt::format("rmdir {}: {}", dir, std::strerror(errno)));
  return Status::Ok();
}

std::vector<std::string> CgroupTree::KillLeftovers() {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(base_, ec)) {
    if (!e.is_directory(ec)) continue;
    const std::string dir = e.path().string();
    if (Populated(dir)) {
      found.push_back(e.path().filename().string());
      Kill(dir);
      for (int i = 0; i < 200 && Populated(dir); ++i) SleepMs(10);
    }
    (void)Remove(dir);
  }
  return found;
}

}  // namespace skyport::drone
