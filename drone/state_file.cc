#include "drone/state_file.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/proc_stat.h"
#include "drone/proc_tree.h"

namespace skyport::drone {
namespace {

constexpr int64_t kPollMs = 20;
constexpr int64_t kAfterKillMs = 2'000;  // a SIGKILLed process is gone within this

void SleepMs(int64_t ms) { poll(nullptr, 0, static_cast<int>(ms)); }

bool SameProcess(pid_t pid, uint64_t start_time) {
  auto st = ReadProcStat(pid);
  return st.ok() && st->start_time == start_time && st->state != 'Z';
}
bool SameProcess(const RunningEntry& e) { return SameProcess(e.pid, e.start_time); }

// An escaped process, and its group when it leads one (after setsid).
void SignalOther(pid_t pid, int sig) {
  kill(pid, sig);
  if (auto st = ReadProcStat(pid); st.ok() && st->pgid == pid) kill(-pid, sig);
}

}  // namespace

std::string EncodeState(const std::vector<RunningEntry>& entries) {
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& e : entries) {
    nlohmann::json j = {{"key", e.key}, {"pid", e.pid}, {"pgid", e.pgid}, {"start_time", e.start_time}};
    if (!e.others.empty()) {
      j["others"] = nlohmann::json::array();
      for (const auto& [pid, start] : e.others) j["others"].push_back({pid, start});
    }
    procs.push_back(std::move(j));
  }
  return nlohmann::json{{"version", 1}, {"processes", procs}}.dump(2) + "\n";
}

Result<std::vector<RunningEntry>> DecodeState(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("processes") || !j["processes"].is_array())
    return Status::DataLoss("state file: not a supervisor state");
  std::vector<RunningEntry> out;
  for (const auto& p : j["processes"]) {
    if (!p.is_object() || !p.contains("pid") || !p["pid"].is_number_integer() || !p.contains("pgid") ||
        !p["pgid"].is_number_integer() || !p.contains("start_time") || !p["start_time"].is_number_unsigned())
      return Status::DataLoss("state file: bad process entry");
    RunningEntry e;
    e.key = p.value("key", "");
    e.pid = p["pid"].get<pid_t>();
    e.pgid = p["pgid"].get<pid_t>();
    e.start_time = p["start_time"].get<uint64_t>();
    if (p.contains("others")) {
      const auto& o = p["others"];
      if (!o.is_array()) return Status::DataLoss("state file: bad others");
      for (const auto& x : o) {
        if (!x.is_array() || x.size() != 2 || !x[0].is_number_integer() || !x[1].is_number_unsigned())
          return Status::DataLoss("state file: bad others entry");
        e.others.emplace_back(x[0].get<pid_t>(), x[1].get<uint64_t>());
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

Status WriteStateFile(const std::string& path, const std::vector<RunningEntry>& entries) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = path + ".tmp";
  const std::string text = EncodeState(entries);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal(fmt::format("open {}: {}", tmp, std::strerror(errno)));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Status::Internal(fmt::format("write {}: {}", tmp, std::strerror(errno)));
      close(fd);
      return s;
    }
    off += static_cast<size_t>(n);
  }
  // Without fsync a power cut could leave an empty file under the new name.
  if (fsync(fd) != 0 || close(fd) != 0) return Status::Internal(fmt::format("sync {}: {}", tmp, std::strerror(errno)));
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return Status::Internal(fmt::format("rename {}: {}", tmp, std::strerror(errno)));
  return Status::Ok();
}

Result<std::vector<RunningEntry>> ReadStateFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::vector<RunningEntry>{};
  std::stringstream ss;
  ss << in.rdbuf();
  return DecodeState(ss.str());
}

int StopLeftovers(const std::vector<RunningEntry>& entries, int64_t term_timeout_ms,
                  const std::function<void(const std::string&)>& say, const std::string& drone) {
  std::vector<RunningEntry> alive;
  std::vector<std::pair<pid_t, uint64_t>> others;
  for (const auto& e : entries)
    for (const auto& [pid, start] : e.others)
      if (pid > 1 && SameProcess(pid, start)) {
        say(fmt::format("{}: stopping left-over pid {} that had escaped the group", e.key, pid));
        SignalOther(pid, SIGTERM);
        others.emplace_back(pid, start);
      }
  // Whatever else names a recorded instance of this drone in its
  // environment: a worker whose leader exited while we were down (one that
  // watches its parent does at once), a daemon that escaped meanwhile (never
  // adopted, so not in `others`). A reused pid or group number cannot carry
  // that name, so nothing unrelated is hit. (An app that also scrubs its
  // environment is beyond this /proc fallback: cgroups hold it.)
  if (!drone.empty()) {
    std::map<std::string, int> found;
    for (const auto& e : entries) found.emplace(e.key, 0);
    for (const auto& p : ListProcesses()) {
      if (p.pid <= 1 || p.pid == getpid() || p.state == 'Z') continue;
      auto it = found.find(InstanceFromEnviron(ParseEnviron(ReadEnviron(p.pid)), drone));
      if (it == found.end()) continue;
      kill(p.pid, SIGTERM);
      others.emplace_back(p.pid, p.start_time);
      ++it->second;
    }
    for (const auto& [key, n] : found)
      if (n > 0) say(fmt::format("{}: stopping {} left-over process(es) that name the instance", key, n));
  }
  auto others_alive = [&] {
    std::erase_if(others, [](const auto& o) { return !SameProcess(o.first, o.second); });
    return !others.empty();
  };
  for (const auto& e : entries) {
    if (e.pid <= 0 || e.pgid <= 0) continue;
    if (!SameProcess(e)) {
      say(fmt::format("{}: pid {} is gone (or reused); nothing to stop", e.key, e.pid));
      continue;
    }
    // The group of a process we started: never anything found by name.
    kill(-e.pgid, SIGTERM);
    alive.push_back(e);
  }
  const std::vector<RunningEntry> signalled = alive;
  auto* clock = SystemClock::Get();
  const int64_t kill_at = clock->MonoMs() + term_timeout_ms;
  bool killed = false;
  for (;;) {
    std::erase_if(alive, [](const RunningEntry& e) { return !GroupHasLiveMembers(e.pgid); });
    const bool more = others_alive();
    if (alive.empty() && !more) break;
    int64_t now = clock->MonoMs();
    if (!killed && now >= kill_at) {
      for (const auto& e : alive) kill(-e.pgid, SIGKILL);
      for (const auto& o : others) SignalOther(o.first, SIGKILL);
      killed = true;
    }
    if (killed && now >= kill_at + kAfterKillMs) {
      for (const auto& e : alive) say(fmt::format("{}: group {} still has live members after SIGKILL", e.key, e.pgid));
      break;
    }
    SleepMs(kPollMs);
  }
  for (const auto& e : signalled)
    say(fmt::format("{}: stopped left-over process group {} (pid {}){}", e.key, e.pgid, e.pid,
                    killed ? ", SIGKILL needed" : ""));
  return static_cast<int>(signalled.size());
}

}  // namespace skyport::drone
